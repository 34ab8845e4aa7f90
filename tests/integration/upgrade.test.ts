import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createHmac } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { findMigrationsFolder, openDatabase } from "~/db/client.server";
import { createSqliteStore } from "~/db/sqlite-store.server";
import { decryptText, sha256Hex, verifyPassword } from "~/utils/crypto.server";
import { parseConfig } from "~/config.server";
import type { AppContext } from "~/context.server";
import { executeTool, listToolsForServer } from "~/servers/tool-execution.server";
import { closeUpstreamPools } from "~/servers/upstream-http.server";
import { createLogger } from "~/utils/log.server";

// A database written by the previous release (tests/fixtures/make-fixture.mjs), opened by today's
// code: migrations run at open, and every row the old version wrote must still be there.
const FIXTURES = path.resolve(import.meta.dirname, "../fixtures");
const RELEASE = "0.1.0";
const plain = JSON.parse(fs.readFileSync(path.join(FIXTURES, `toolgate-${RELEASE}.plaintexts.json`), "utf8"));
const secrets = JSON.parse(fs.readFileSync(path.join(FIXTURES, `toolgate-${RELEASE}.secrets.json`), "utf8"));

type Row = Record<string, unknown>;

/** Every table's rows, read with plain SQLite (no app code). */
function snapshot(file: string): Map<string, Row[]> {
  const db = new Database(file, { readonly: true });
  const out = new Map<string, Row[]>();
  const tables = db
    .prepare("select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name != '__drizzle_migrations'")
    .all() as { name: string }[];
  for (const { name } of tables) out.set(name, db.prepare(`select * from "${name}" order by rowid`).all() as Row[]);
  db.close();
  return out;
}

const dirs: string[] = [];
function copyOfFixture(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-upgrade-"));
  dirs.push(dir);
  const file = path.join(dir, "toolgate.db");
  fs.copyFileSync(path.join(FIXTURES, `toolgate-${RELEASE}.db`), file);
  return file;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe(`upgrading a database written by ${RELEASE}`, () => {
  it("the fixture has rows in every table it had", async () => {
    const before = snapshot(path.join(FIXTURES, `toolgate-${RELEASE}.db`));
    expect(before.size).toBeGreaterThanOrEqual(16);
    for (const [table, rows] of before) expect(rows.length, table).toBeGreaterThan(0);
  });

  it("migrates to the current schema with every row and value kept", async () => {
    const file = copyOfFixture();
    const before = snapshot(file);
    const db = openDatabase(file);
    const applied = db.$client.prepare("select created_at from __drizzle_migrations").all() as { created_at: number }[];
    const journal = JSON.parse(fs.readFileSync(path.join(findMigrationsFolder(), "meta/_journal.json"), "utf8"));
    expect(applied.map((r) => Number(r.created_at)).sort()).toEqual(journal.entries.map((e: { when: number }) => e.when).sort());
    db.$client.close();

    const after = snapshot(file);
    for (const [table, rows] of before) {
      const now = after.get(table);
      expect(now, `table ${table} is gone`).toBeDefined();
      expect(now!.length, table).toBe(rows.length);
      // Columns the old version wrote keep their values; new columns may be added.
      rows.forEach((row, i) => {
        for (const [column, value] of Object.entries(row)) expect(now![i]![column], `${table}.${column}`).toEqual(value);
      });
    }
  });

  it("old secrets still work with the current code: password, sealed values, token hashes", async () => {
    const file = copyOfFixture();
    const db = openDatabase(file);
    const key = Buffer.from(secrets.dataKey, "base64url");
    const owner = db.$client.prepare("select password_hash from users where email = ?").get("ada@example.com") as { password_hash: string };
    expect(await verifyPassword(plain.ownerPassword, owner.password_hash)).toBe(true);
    expect(await verifyPassword("wrong", owner.password_hash)).toBe(false);
    const server = db.$client.prepare("select signing_secret_enc from mcp_servers").get() as { signing_secret_enc: string };
    expect(decryptText(key, server.signing_secret_enc)).toBe(plain.signingSecret);
    const tool = db.$client.prepare("select endpoint_headers_enc from tools").get() as { endpoint_headers_enc: string };
    expect(JSON.parse(decryptText(key, tool.endpoint_headers_enc))).toEqual(plain.toolHeaders);
    for (const [table, column, token] of [
      ["access_tokens", "token_hash", plain.accessToken],
      ["refresh_tokens", "token_hash", plain.refreshToken],
      ["authorization_codes", "code_hash", plain.code],
      ["oauth_clients", "secret_hash", plain.clientSecret],
    ] as const) {
      const hit = db.$client.prepare(`select count(*) as n from ${table} where ${column} = ?`).get(sha256Hex(token)) as { n: number };
      expect(hit.n, table).toBe(1);
    }
    db.$client.close();
  });

  it("an old tool keeps working after the upgrade: no mapping, so its arguments are the signed JSON body", async () => {
    const file = copyOfFixture();
    const db = openDatabase(file);
    const upstream = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        received.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
        res.writeHead(200, { "Content-Type": "application/json" }).end('{"ok":true}');
      });
    });
    const received: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
    await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", () => r()));
    try {
      const old = db.$client.prepare("select * from tools").get() as Record<string, unknown>;
      expect([old.endpoint_params, old.annotations, old.output_schema, old.imported_from]).toEqual([null, null, null, null]);
      const server = db.$client.prepare("select base_url, api_auth, api_secret_enc from mcp_servers").get();
      expect(server).toEqual({ base_url: null, api_auth: null, api_secret_enc: null });
      // The fixture's endpoint host does not exist here; point the tool at a local one, path kept.
      const oldUrl = new URL(old.endpoint_url as string);
      const port = (upstream.address() as AddressInfo).port;
      db.$client.prepare("update tools set endpoint_url = ?").run(`http://127.0.0.1:${port}${oldUrl.pathname}`);
      const store = createSqliteStore(db.$client);
      const ctx = {
        config: parseConfig({ TOOLGATE_DATA_DIR: path.dirname(file), TOOLGATE_LOG_LEVEL: "silent" }),
        db: store.db,
        store,
        secrets: { sessionSecret: "x".repeat(32), dataKey: Buffer.from(secrets.dataKey, "base64url") },
        logger: createLogger("silent", () => {}),
        now: () => Date.now(),
      } as AppContext;
      const tool = (await listToolsForServer(ctx, old.server_id as string))[0]!;
      const result = await executeTool(ctx, tool, { city: "Paris" });
      expect(result.isError, JSON.stringify(result)).toBeFalsy();
      const req = received[0]!;
      expect([req.method, req.url]).toEqual([old.endpoint_method, oldUrl.pathname]);
      expect(req.body).toBe('{"city":"Paris"}');
      expect(req.headers["content-type"]).toBe("application/json");
      expect(req.headers["x-api-key"]).toBe(plain.toolHeaders["X-Api-Key"]);
      const ts = req.headers["x-toolgate-timestamp"] as string;
      expect(req.headers["x-toolgate-signature"]).toBe(`sha256=${createHmac("sha256", plain.signingSecret).update(`${ts}.${req.body}`).digest("hex")}`);
    } finally {
      closeUpstreamPools();
      upstream.closeAllConnections();
      await new Promise<void>((r) => upstream.close(() => r()));
      db.$client.close();
    }
  });

  it("opening twice applies nothing twice (migrations only go forward)", async () => {
    const file = copyOfFixture();
    openDatabase(file).$client.close();
    const db = openDatabase(file);
    const rows = db.$client.prepare("select hash, count(*) as n from __drizzle_migrations group by hash having n > 1").all();
    expect(rows).toEqual([]);
    db.$client.close();
  });
});

function lastApplied(file: string): number {
  const db = new Database(file, { readonly: true });
  try {
    return Number((db.prepare("select max(created_at) as m from __drizzle_migrations").get() as { m: number }).m);
  } finally {
    db.close();
  }
}

describe("a failing migration", () => {
  it("is rolled back as a whole: no half-applied schema, no record, the old data intact", async () => {
    const file = copyOfFixture();
    const before = snapshot(file);
    const appliedBefore = lastApplied(file);
    // Today's migrations plus one whose second statement fails: the fixture's pending migrations
    // and the broken one run in one transaction, so none of them stays.
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-migrations-"));
    dirs.push(folder);
    fs.cpSync(findMigrationsFolder(), folder, { recursive: true });
    const journal = JSON.parse(fs.readFileSync(path.join(folder, "meta/_journal.json"), "utf8"));
    const last = journal.entries.at(-1);
    journal.entries.push({ ...last, idx: last.idx + 1, when: last.when + 1000, tag: "9999_broken" });
    fs.writeFileSync(path.join(folder, "meta/_journal.json"), JSON.stringify(journal));
    fs.writeFileSync(
      path.join(folder, "9999_broken.sql"),
      "CREATE TABLE `half_done` (`id` text);\n--> statement-breakpoint\nINSERT INTO `no_such_table` VALUES (1);\n",
    );
    expect(() => openDatabase(file, { migrationsFolder: folder })).toThrow(/no_such_table/);
    const db = new Database(file, { readonly: true });
    expect(db.prepare("select name from sqlite_master where name = 'half_done'").get()).toBeUndefined();
    db.close();
    expect(lastApplied(file)).toBe(appliedBefore);
    expect(appliedBefore).toBeLessThan(last.when);
    expect(snapshot(file)).toEqual(before);
  });
});
