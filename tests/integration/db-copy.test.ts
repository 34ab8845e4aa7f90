import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { asc } from "drizzle-orm";
import { drizzle as drizzleSqlite } from "drizzle-orm/better-sqlite3";
import { getTableConfig as getPgTableConfig, type PgTable } from "drizzle-orm/pg-core";
import { getTableConfig as getSqliteTableConfig, type SQLiteTable } from "drizzle-orm/sqlite-core";
import { drizzle as drizzlePg } from "drizzle-orm/node-postgres";
import pg from "pg";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { openDatabase, type Db } from "~/db/client.server";
import { copySqliteToPostgres, CopyFailedError, CopyRefusedError, tablesInDependencyOrder } from "~/db/copy.server";
import { loadPostgresModules } from "~/db/postgres-modules.server";
import { openPostgres } from "~/db/postgres.server";
import * as s from "~/db/schema";
import { sha256Hex } from "~/utils/crypto.server";
import { runCli } from "../helpers/built-app";
import { createTestDatabase, postgresAdminUrl, withAdminClient, withDatabase } from "../helpers/postgres";

// The PostgreSQL modules as the copy loads them (the schema's PostgreSQL instance, pg-core).
const pgModules = await loadPostgresModules();

const ROOT = path.resolve(import.meta.dirname, "../..");
// The fixture (0.1.0) has only the first migration applied; every later one is missing.
const journal = JSON.parse(fs.readFileSync(path.join(ROOT, "drizzle/meta/_journal.json"), "utf8")) as { entries: { tag: string }[] };
const shippedMigrations = journal.entries.length;
const currentSchema = journal.entries.at(-1)!.tag;
const FIXTURES = path.resolve(import.meta.dirname, "../fixtures");
const plain = JSON.parse(fs.readFileSync(path.join(FIXTURES, "toolgate-0.1.0.plaintexts.json"), "utf8"));

type Row = Record<string, unknown>;
const T0 = Date.UTC(2026, 2, 1);

const dirs: string[] = [];
const pools: pg.Pool[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
});

/** A data folder holding the 0.1.0 fixture database, without upgrading it. */
function fixtureFolder(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-copy-"));
  dirs.push(dir);
  fs.copyFileSync(path.join(FIXTURES, "toolgate-0.1.0.db"), path.join(dir, "toolgate.db"));
  fs.copyFileSync(path.join(FIXTURES, "toolgate-0.1.0.secrets.json"), path.join(dir, "secrets.json"));
  return dir;
}

/**
 * An installation as a release writes it: the 0.1.0 fixture upgraded by the app (openDatabase runs
 * the migrations), plus rows in the tables it had none in, true booleans, bytes, and enough tokens
 * and audit events to fill many pages.
 */
function installation(): { dir: string; db: Db } {
  const dir = fixtureFolder();
  const db = openDatabase(path.join(dir, "toolgate.db"));
  const owner = db.select().from(s.users).all().find((u) => u.role === "owner")!;
  db.insert(s.users).values({ id: "u-second", email: "grace@example.com", name: null, passwordHash: null, role: "member", createdAt: T0, updatedAt: T0 }).run();
  db.insert(s.mcpServers)
    .values({
      id: "srv-2",
      ownerId: owner.id,
      name: "Orders",
      signingSecretEnc: "sealed",
      createdAt: T0,
      updatedAt: T0,
      dpopRequired: true,
      enterpriseAccess: true,
      enterpriseTools: '["list_orders"]',
      baseUrl: "https://api.example.test",
      apiAuth: '{"type":"bearer"}',
      apiSecretEnc: "sealed-api",
    })
    .run();
  for (const name of ["list_orders", "get_order"]) {
    db.insert(s.tools)
      .values({ id: `tool-${name}`, serverId: "srv-2", name, inputSchema: "{}", endpointUrl: `/orders/${name}`, endpointParams: '{"orderId":"path"}', createdAt: T0, updatedAt: T0 })
      .run();
  }
  const client = db.select().from(s.oauthClients).all()[0]!;
  db.insert(s.grants).values({ id: "grant-2", userId: owner.id, clientId: client.id, serverId: "srv-2", scope: "mcp:tools", createdAt: T0, updatedAt: T0, source: "consent" }).run();
  db.insert(s.grantTools).values([{ grantId: "grant-2", toolId: "tool-list_orders" }, { grantId: "grant-2", toolId: "tool-get_order" }]).run();
  db.insert(s.authorizationRequests)
    .values({ id: "req-2", clientId: client.id, redirectUri: "http://127.0.0.1:9/cb", redirectUriProvided: true, codeChallenge: "c", scope: "mcp:tools", serverId: "srv-2", createdAt: T0, expiresAt: T0 + 600_000 })
    .run();
  for (let f = 0; f < 40; f++) addFamily(db, `fam-${f}`, "grant-2", 6);
  db.insert(s.shownOnceSecrets).values({ refHash: sha256Hex("ref"), userId: owner.id, purpose: "signing_secret:srv-2", secretEnc: "sealed", createdAt: T0, expiresAt: T0 + 60_000 }).run();
  db.insert(s.openapiDrafts).values({ id: "draft-1", serverId: "srv-2", document: "openapi: 3.1.0\n", source: "pasted", createdAt: T0, expiresAt: T0 + 60_000 }).run();
  db.insert(s.clientLogos).values({ digest: "d".repeat(64), contentType: "image/png", bytes: crypto.randomBytes(70_000), createdAt: T0 }).run();
  db.insert(s.replayGuard).values({ key: "jti:abc", expiresAt: T0 + 60_000 }).run();
  for (let i = 0; i < 700; i++) {
    db.insert(s.auditEvents).values({ at: T0 + i, kind: i % 2 ? "tool.call" : "token.issued", serverId: "srv-2", clientId: client.id, actor: "system", detail: `{"n":${i}}` }).run();
  }
  // The newest events gone: PostgreSQL must still not hand out their ids again.
  db.$client.prepare("delete from audit_events where id in (select id from audit_events order by id desc limit 5)").run();
  return { dir, db };
}

function addFamily(db: Db | ReturnType<typeof drizzleSqlite>, id: string, grantId: string, tokens: number, at = T0): void {
  const grant = (db as Db).select().from(s.grants).all().find((g) => g.id === grantId)!;
  (db as Db).insert(s.tokenFamilies).values({ id, grantId, createdAt: at }).run();
  for (let i = 0; i < tokens; i++) {
    const hash = sha256Hex(`${id}-${i}`);
    (db as Db).insert(s.accessTokens)
      .values({ tokenHash: hash, familyId: id, grantId, clientId: grant.clientId, userId: grant.userId, serverId: grant.serverId, scope: "mcp:tools", createdAt: at, expiresAt: at + 3_600_000, dpopJkt: i % 2 ? "jkt" : null })
      .run();
    (db as Db).insert(s.refreshTokens)
      .values({ tokenHash: sha256Hex(`r-${id}-${i}`), familyId: id, grantId, clientId: grant.clientId, createdAt: at, expiresAt: at + 86_400_000, accessTokenHash: hash })
      .run();
  }
}

function orderOf(table: SQLiteTable | PgTable, pgTable: boolean) {
  const config = pgTable ? getPgTableConfig(table as PgTable) : getSqliteTableConfig(table as SQLiteTable);
  const columns = config.primaryKeys[0]?.columns ?? config.columns.filter((c) => c.primary);
  return columns.map((c) => asc(c));
}

/** Every table's rows, by primary key, read through Drizzle on the SQLite instance of the schema. */
function sqliteRows(file: string): Map<string, Row[]> {
  const sqlite = new Database(file, { readonly: true });
  const db = drizzleSqlite(sqlite);
  const out = new Map<string, Row[]>();
  for (const t of tablesInDependencyOrder(pgModules)) {
    out.set(t.name, db.select().from(t.sqlite).orderBy(...orderOf(t.sqlite, false)).all() as Row[]);
  }
  sqlite.close();
  return out;
}

/** The same through Drizzle on the PostgreSQL instance (bigint as number, bytea as Buffer, boolean). */
async function postgresRows(url: string): Promise<Map<string, Row[]>> {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  pools.push(pool);
  const db = drizzlePg(pool);
  const out = new Map<string, Row[]>();
  for (const t of tablesInDependencyOrder(pgModules)) {
    out.set(t.name, (await db.select().from(t.pg).orderBy(...orderOf(t.pg, true))) as Row[]);
  }
  return out;
}

async function rowCounts(url: string): Promise<Record<string, number>> {
  const rows = await postgresRows(url);
  return Object.fromEntries([...rows].map(([name, r]) => [name, r.length]));
}

/** A fresh database owned by a role of its own with a password of its own, and its URL. */
async function databaseWithOwnRole(password: string): Promise<string> {
  const role = `copier_${crypto.randomBytes(4).toString("hex")}`;
  const database = `tg_${crypto.randomBytes(6).toString("hex")}`;
  await withAdminClient(async (client) => {
    await client.query(`create role ${role} login password '${password}'`);
    await client.query(`create database ${database} owner ${role}`);
  });
  return withDatabase(postgresAdminUrl(), database, { user: role, password });
}

describe("toolgate db copy: SQLite into an empty PostgreSQL", { timeout: 120_000 }, () => {
  it("copies every row of every table, equal column by column, with the counts verified", async () => {
    const { dir, db } = installation();
    const url = await createTestDatabase();
    const before = sqliteRows(path.join(dir, "toolgate.db"));
    const result = await copySqliteToPostgres({ dataDir: dir, to: url, pageRows: 50 });

    const after = await postgresRows(url);
    for (const [table, rows] of before) {
      expect(after.get(table), table).toEqual(rows);
      expect(result.tables.find((t) => t.table === table)?.rows, table).toBe(rows.length);
    }
    expect(result.tables.map((t) => t.table).sort()).toEqual([...before.keys()].sort());
    for (const table of ["users", "mcp_servers", "tools", "oauth_clients", "grants", "grant_tools", "token_families", "access_tokens", "refresh_tokens", "audit_events", "client_logos"]) {
      expect(before.get(table)!.length, table).toBeGreaterThan(0);
    }
    expect(result.totalRows).toBe([...before.values()].reduce((n, r) => n + r.length, 0));
    expect(result.secretsFile).toBe(path.join(dir, "secrets.json"));
    expect(result.secretsFileFound).toBe(true);
    // The triggers on tools and grant_tools fired during the copy; the counters are the source's.
    expect(after.get("mcp_servers")!.map((r) => r.toolsVersion)).toEqual(before.get("mcp_servers")!.map((r) => r.toolsVersion));

    const handle = await openPostgres({ url });
    try {
      // A client's token verifies against PostgreSQL: the same unkeyed SHA-256 hash.
      for (const [table, column, token] of [
        ["access_tokens", "token_hash", plain.accessToken],
        ["refresh_tokens", "token_hash", plain.refreshToken],
        ["oauth_clients", "secret_hash", plain.clientSecret],
      ] as const) {
        const hit = await handle.pool.query(`select count(*) as n from ${table} where ${column} = $1`, [sha256Hex(token)]);
        expect(Number(hit.rows[0].n), table).toBe(1);
      }
      // The identity sequence continues after the highest id SQLite ever issued (deleted ones included).
      const seq = db.$client.prepare("select seq from sqlite_sequence where name = 'audit_events'").get() as { seq: number };
      const inserted = await handle.pool.query("insert into audit_events (at, kind) values (1, 'x') returning id");
      expect(Number(inserted.rows[0].id)).toBe(seq.seq + 1);
    } finally {
      await handle.close();
      db.$client.close();
    }
  });

  it("refuses a target that is not empty and leaves it as it was", async () => {
    const { dir, db } = installation();
    db.$client.close();
    const url = await createTestDatabase();
    await copySqliteToPostgres({ dataDir: dir, to: url });
    const before = await postgresRows(url);
    const again = copySqliteToPostgres({ dataDir: dir, to: url });
    await expect(again).rejects.toThrow(CopyRefusedError);
    await expect(again).rejects.toThrow(/not empty \(rows in users, .*\).*Nothing was written/);
    expect(await postgresRows(url)).toEqual(before);

    // One row in one table is enough to refuse.
    const other = await createTestDatabase();
    const handle = await openPostgres({ url: other });
    await handle.pool.query("insert into replay_guard (key, expires_at) values ('k', 1)");
    await handle.close();
    await expect(copySqliteToPostgres({ dataDir: dir, to: other })).rejects.toThrow(/not empty \(rows in replay_guard\)/);
    const counts = await rowCounts(other);
    expect(Object.entries(counts).filter(([, n]) => n > 0)).toEqual([["replay_guard", 1]]);
  });

  it("a failure midway leaves the target with no rows at all", async () => {
    const { dir, db } = installation();
    const victim = db.select().from(s.refreshTokens).all().at(-1)!;
    db.$client.close();
    const url = await createTestDatabase();
    const handle = await openPostgres({ url });
    // refresh_tokens comes after most tables: everything before it was already inserted.
    await handle.pool.query(`alter table refresh_tokens add constraint refuse_one check (token_hash <> '${victim.tokenHash}')`);
    await handle.close();

    const copy = copySqliteToPostgres({ dataDir: dir, to: url, pageRows: 25 });
    await expect(copy).rejects.toThrow(CopyFailedError);
    await expect(copy).rejects.toThrow(/copying refresh_tokens failed and was rolled back, the target holds no rows: .*refuse_one/);
    // The database's reason only: no row values in the message.
    await expect(copy).rejects.not.toThrow(new RegExp(victim.tokenHash));
    const counts = await rowCounts(url);
    expect(Object.values(counts).every((n) => n === 0), JSON.stringify(counts)).toBe(true);
  });

  it("refuses a source at an older schema version (start this version once first) or a newer one", async () => {
    const old = fixtureFolder();
    const url = await createTestDatabase();
    await expect(copySqliteToPostgres({ dataDir: old, to: url })).rejects.toThrow(
      new RegExp(`older schema version \\(${shippedMigrations - 1} migration\\(s\\) missing, from 0001_tools_version\\).*start this version of Toolgate on it once`),
    );
    // Refused before the target was touched: not even migrated.
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    pools.push(pool);
    const tables = await pool.query("select count(*) as n from information_schema.tables where table_schema = 'public'");
    expect(Number(tables.rows[0].n)).toBe(0);

    const { dir, db } = installation();
    db.$client.prepare("insert into __drizzle_migrations (hash, created_at) values ('f00', 99999999999999)").run();
    db.$client.close();
    await expect(copySqliteToPostgres({ dataDir: dir, to: url })).rejects.toThrow(/newer \(or a different\) version/);
    await expect(copySqliteToPostgres({ dataDir: path.join(dir, "nowhere"), to: url })).rejects.toThrow(/There is no Toolgate database at/);
  });

  it("copies one moment of a database another connection goes on writing: nothing committed later, not even part of it", async () => {
    const { dir, db } = installation();
    db.$client.close();
    const file = path.join(dir, "toolgate.db");
    // Another connection, as the running server's: WAL lets it commit while the copy reads.
    const writer = new Database(file);
    writer.pragma("busy_timeout = 5000");
    writer.pragma("foreign_keys = ON");
    const writerDb = drizzleSqlite(writer, { schema: s }) as unknown as Db;
    let atSnapshot: Map<string, Row[]> | undefined;
    let written = 0;
    const url = await createTestDatabase();
    const result = await copySqliteToPostgres({
      dataDir: dir,
      to: url,
      pageRows: 20,
      onProgress: (event) => {
        if (event.kind === "snapshot") {
          atSnapshot = sqliteRows(file);
          // A whole family committed after the snapshot began.
          writer.transaction(() => addFamily(writerDb, "late-family", "grant-2", 4, T0 + 1))();
          written++;
        } else if (event.table === "token_families") {
          // Families are copied, their tokens not yet: a new family with tokens, and new tokens in
          // a family the copy already has. Without one snapshot, tokens would come without theirs.
          writer.transaction(() => {
            addFamily(writerDb, "later-family", "grant-2", 3, T0 + 2);
            writerDb.insert(s.accessTokens)
              .values({ tokenHash: sha256Hex("late-token"), familyId: "fam-0", grantId: "grant-2", clientId: "x", userId: "y", serverId: "srv-2", scope: "mcp:tools", createdAt: T0, expiresAt: T0 + 1 })
              .run();
          })();
          written++;
        } else if (event.table === "access_tokens") {
          writer.prepare("delete from audit_events where id in (select id from audit_events limit 100)").run();
          writer.prepare("delete from token_families where id = 'fam-1'").run();
          written++;
        }
      },
    });
    writer.close();
    expect(written).toBe(3);

    const now = sqliteRows(file);
    expect(now.get("token_families")!.some((f) => f.id === "later-family")).toBe(true);
    const copied = await postgresRows(url);
    expect(copied).toEqual(atSnapshot);
    expect(result.tables.find((t) => t.table === "access_tokens")!.rows).toBe(atSnapshot!.get("access_tokens")!.length);
    // Every family is either complete or absent.
    const families = new Set(copied.get("token_families")!.map((f) => f.id));
    expect(families.has("late-family") || families.has("later-family")).toBe(false);
    expect(families.has("fam-1")).toBe(true);
    expect(copied.get("access_tokens")!.every((t) => families.has(t.familyId))).toBe(true);
  });
});

describe("toolgate db copy and backup on the command line", { timeout: 180_000 }, () => {
  const PASSWORD = "Pw-" + crypto.randomBytes(9).toString("hex");

  it("copies, prints the counts and what to do with the secrets, never the password", async () => {
    if (!fs.existsSync(path.join(ROOT, "build/index.js"))) throw new Error("Run `npm run build` before the CLI tests");
    const { dir, db } = installation();
    const expected = sqliteRows(path.join(dir, "toolgate.db"));
    db.$client.close();
    const url = await databaseWithOwnRole(PASSWORD);
    const unused = path.join(os.tmpdir(), `toolgate-unused-${crypto.randomBytes(4).toString("hex")}`);
    const env = { ...process.env, TOOLGATE_DATA_DIR: unused, TOOLGATE_LOG_LEVEL: "silent" };

    const res = await runCli(["db", "copy", "--to", url, "--data-dir", dir], env);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(new RegExp(`^Copied .*toolgate\\.db\\n {4}to postgres://copier_\\w+:\\*\\*\\*@127\\.0\\.0\\.1:\\d+/tg_\\w+ \\(schema ${currentSchema}\\)`));
    expect(res.stdout).toMatch(new RegExp(`\\n  access_tokens +${expected.get("access_tokens")!.length}\\n`));
    expect(res.stdout).toContain(`same secrets.json\nas ${path.join(dir, "secrets.json")}`);
    expect(res.stdout).toContain("TOOLGATE_DATABASE_URL");
    expect(res.stdout + res.stderr).not.toContain(PASSWORD);
    // The command opened no database of its own in TOOLGATE_DATA_DIR.
    expect(fs.existsSync(unused)).toBe(false);
    expect(await postgresRows(url)).toEqual(expected);

    // Again: refused (exit 1), the target unchanged, still no password.
    const again = await runCli(["db", "copy", "--to", url, "--data-dir", dir, "--json"], env);
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stderr).error).toMatch(/^The target database is not empty/);
    expect(again.stdout + again.stderr).not.toContain(PASSWORD);
    expect(await postgresRows(url)).toEqual(expected);

    // A wrong password: refused at once, neither password printed.
    const wrong = url.replace(PASSWORD, "Wrong-" + PASSWORD);
    const denied = await runCli(["db", "copy", "--to", wrong, "--data-dir", dir], env);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/^Error: --to: cannot connect to PostgreSQL at 127\.0\.0\.1:\d+ .*password authentication failed/);
    expect(denied.stdout + denied.stderr).not.toContain(PASSWORD);

    // Usage errors: exit 2.
    const missing = await runCli(["db", "copy", "--data-dir", dir], env);
    expect([missing.code, missing.stderr]).toEqual([2, expect.stringContaining("--to is required")]);
    const notPostgres = await runCli(["db", "copy", "--to", `mysql://u:${PASSWORD}@h/db`, "--data-dir", dir], env);
    expect(notPostgres.code).toBe(2);
    expect(notPostgres.stderr).toContain("--to: the scheme must be postgres:// or postgresql://");
    expect(notPostgres.stderr).not.toContain(PASSWORD);
  });

  it("--json gives the result as one object", async () => {
    const { dir, db } = installation();
    db.$client.close();
    const url = await databaseWithOwnRole(PASSWORD);
    const res = await runCli(["db", "copy", "--to", url, "--data-dir", dir, "--json"], { ...process.env, TOOLGATE_LOG_LEVEL: "silent" });
    expect(res.code, res.stderr).toBe(0);
    const out = JSON.parse(res.stdout);
    expect(out).toMatchObject({ source: path.join(dir, "toolgate.db"), schemaVersion: currentSchema, secretsFile: path.join(dir, "secrets.json"), secretsFileFound: true });
    expect(out.target).not.toContain(PASSWORD);
    expect(out.tables.find((t: { table: string }) => t.table === "users").rows).toBe(3);
    expect(res.stdout + res.stderr).not.toContain(PASSWORD);
  });

  it("toolgate backup on PostgreSQL says what to do instead and exits 1", async () => {
    const dir = fixtureFolder();
    const target = path.join(dir, "backup.db");
    const res = await runCli(["backup", "--to", target], {
      ...process.env,
      TOOLGATE_DATA_DIR: dir,
      TOOLGATE_LOG_LEVEL: "silent",
      TOOLGATE_DATABASE_URL: `postgres://toolgate:${PASSWORD}@127.0.0.1:1/toolgate`,
    });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("TOOLGATE_DATABASE_URL is set: the data is in PostgreSQL");
    expect(res.stderr).toContain("pg_dump");
    expect(res.stderr).toContain("secrets.json");
    expect(res.stderr).not.toContain(PASSWORD);
    expect(fs.existsSync(target)).toBe(false);
  });
});
