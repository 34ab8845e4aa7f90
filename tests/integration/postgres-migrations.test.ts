import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { eq } from "drizzle-orm";
import { getTableConfig } from "drizzle-orm/pg-core";
import * as esbuild from "esbuild";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DatabaseStartError, findPostgresMigrationsFolder, openPostgres } from "../../app/db/postgres.server";
import * as pgSchema from "../../app/db/schema-postgres";
import { createTestDatabase } from "../helpers/postgres";

const root = fileURLToPath(new URL("../..", import.meta.url));
const migrationsFolder = findPostgresMigrationsFolder();
const journal = JSON.parse(fs.readFileSync(path.join(migrationsFolder, "meta", "_journal.json"), "utf8")) as {
  entries: { idx: number; when: number; tag: string; version: string; breakpoints: boolean }[];
};

async function query<T extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

const tableNames = async (url: string) =>
  (
    await query<{ table_name: string }>(
      url,
      "select table_name from information_schema.tables where table_schema = 'public' order by table_name",
    )
  ).map((r) => r.table_name);

const appliedMigrations = async (url: string) =>
  (await query<{ n: number }>(url, "select count(*) as n from drizzle.__drizzle_migrations"))[0]!.n;

/** The real migrations plus a third one whose first statement works and whose second fails. */
function brokenMigrationsFolder(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-broken-migrations-"));
  fs.cpSync(migrationsFolder, dir, { recursive: true });
  const last = journal.entries.at(-1)!;
  const broken = {
    ...last,
    idx: last.idx + 1,
    when: last.when + 1000,
    tag: `${String(last.idx + 1).padStart(4, "0")}_broken`,
  };
  fs.writeFileSync(
    path.join(dir, "meta", "_journal.json"),
    JSON.stringify({ ...journal, entries: [...journal.entries, broken] }, null, 2),
  );
  fs.writeFileSync(
    path.join(dir, `${broken.tag}.sql`),
    'CREATE TABLE "broken_probe" ("id" text PRIMARY KEY);\n--> statement-breakpoint\nALTER TABLE "no_such_table" ADD COLUMN "x" text;\n',
  );
  return dir;
}

describe("PostgreSQL migrations", () => {
  it("apply to an empty database and give the schema of app/db/schema-postgres.ts", async () => {
    const url = await createTestDatabase();
    const handle = await openPostgres({ url });
    try {
      const expected = Object.values(pgSchema)
        .map((t) => getTableConfig(t).name)
        .sort();
      expect(await tableNames(url)).toEqual(expected);
      expect(await appliedMigrations(url)).toBe(journal.entries.length);

      // Every column as declared: name, SQL type, nullability.
      const live = await query<{
        table_name: string;
        column_name: string;
        data_type: string;
        is_nullable: string;
      }>(
        url,
        "select table_name, column_name, data_type, is_nullable from information_schema.columns where table_schema = 'public'",
      );
      const liveKey = (r: (typeof live)[number]) =>
        `${r.table_name}.${r.column_name} ${r.data_type} ${r.is_nullable === "NO" ? "not null" : "null"}`;
      const declared = Object.values(pgSchema).flatMap((t) => {
        const config = getTableConfig(t);
        return config.columns.map(
          (c) => `${config.name}.${c.name} ${c.getSQLType()} ${c.notNull ? "not null" : "null"}`,
        );
      });
      expect(live.map(liveKey).sort()).toEqual(declared.sort());

      const indexes = (
        await query<{ indexname: string }>(
          url,
          "select indexname from pg_indexes where schemaname = 'public'",
        )
      ).map((r) => r.indexname);
      const declaredIndexes = Object.values(pgSchema).flatMap((t) =>
        getTableConfig(t).indexes.map((i) => i.config.name),
      );
      expect(indexes).toEqual(expect.arrayContaining(declaredIndexes));

      // Rows round-trip with their JS types: times past int4, booleans, bytes; int8 counts as numbers.
      const { db } = handle;
      const now = Date.now();
      await db
        .insert(pgSchema.users)
        .values({ id: "u1", email: "a@example.com", createdAt: now, updatedAt: now });
      await db
        .insert(pgSchema.mcpServers)
        .values({
          id: "s1",
          ownerId: "u1",
          name: "S",
          signingSecretEnc: "x",
          createdAt: now,
          updatedAt: now,
        });
      const bytes = Buffer.from([0, 1, 2, 255]);
      await db
        .insert(pgSchema.clientLogos)
        .values({ digest: "d", contentType: "image/png", bytes, createdAt: now });
      const [server] = await db.select().from(pgSchema.mcpServers).where(eq(pgSchema.mcpServers.id, "s1"));
      expect(server).toMatchObject({ createdAt: now, dpopRequired: false, toolsVersion: 0, description: "" });
      const [logo] = await db.select().from(pgSchema.clientLogos);
      expect(Buffer.isBuffer(logo!.bytes) && logo!.bytes.equals(bytes)).toBe(true);
      const [event] = await db.insert(pgSchema.auditEvents).values({ at: now, kind: "k" }).returning();
      expect(event).toMatchObject({ id: 1, detail: "{}" });
      const counted = await handle.pool.query("select count(*) as n, max(created_at) as m from users");
      expect(counted.rows[0]).toEqual({ n: 1, m: now });

      // The tools_version triggers: a tool added, edited or removed bumps its server's version.
      const tool = {
        id: "t1",
        serverId: "s1",
        name: "t",
        inputSchema: "{}",
        endpointUrl: "https://e.example",
        createdAt: now,
        updatedAt: now,
      };
      await db.insert(pgSchema.tools).values(tool);
      await db.update(pgSchema.tools).set({ description: "d" }).where(eq(pgSchema.tools.id, "t1"));
      await db.delete(pgSchema.tools).where(eq(pgSchema.tools.id, "t1"));
      const [after] = await db.select().from(pgSchema.mcpServers);
      expect(after!.toolsVersion).toBe(3);
    } finally {
      await handle.close();
    }
    // A second start finds nothing to apply.
    const again = await openPostgres({ url });
    await again.close();
    expect(await appliedMigrations(url)).toBe(journal.entries.length);
  });

  describe("three processes migrating at the same moment", () => {
    let script: string;
    const built = path.join(
      root,
      "node_modules",
      ".cache",
      "toolgate-tests",
      `postgres-migrate-child-${process.pid}.mjs`,
    );
    beforeAll(async () => {
      // Bundled so the child is plain Node; packages stay external, resolved from node_modules.
      await esbuild.build({
        entryPoints: [path.join(root, "tests/helpers/postgres-migrate-child.ts")],
        bundle: true,
        platform: "node",
        format: "esm",
        packages: "external",
        outfile: built,
        logLevel: "silent",
      });
      script = built;
    });
    afterAll(() => fs.rmSync(built, { force: true }));

    it("all succeed and the schema is applied once", async () => {
      const url = await createTestDatabase();
      const children = [0, 1, 2].map(() => {
        const child = spawn(process.execPath, [script, url, migrationsFolder], {
          stdio: ["pipe", "pipe", "pipe"],
        });
        let out = "";
        let err = "";
        child.stdout.on("data", (d: Buffer) => (out += d.toString()));
        child.stderr.on("data", (d: Buffer) => (err += d.toString()));
        const exited = new Promise<{ code: number | null; out: string; err: string }>((resolve) =>
          child.on("exit", (code) => resolve({ code, out, err })),
        );
        const ready = new Promise<void>((resolve, reject) => {
          child.stdout.on("data", () => out.includes("ready\n") && resolve());
          void exited.then((r) => reject(new Error(`child exited before ready: ${r.out}${r.err}`)));
        });
        return { child, ready, exited };
      });
      await Promise.all(children.map((c) => c.ready));
      for (const c of children) c.child.stdin.write("go\n");
      const results = await Promise.all(children.map((c) => c.exited));
      for (const r of results) {
        expect(r, r.err).toMatchObject({ code: 0 });
        expect(r.out).toContain("migrated");
      }
      expect(await appliedMigrations(url)).toBe(journal.entries.length);
      expect(await tableNames(url)).toHaveLength(Object.keys(pgSchema).length);
      const triggers = await query(url, "select tgname from pg_trigger where not tgisinternal");
      expect(triggers).toHaveLength(2);
    });
  });

  it("a failing migration leaves the database at its previous version", async () => {
    const broken = brokenMigrationsFolder();
    try {
      // At the current version: the broken migration's first statement is rolled back with it.
      const url = await createTestDatabase();
      await (await openPostgres({ url })).close();
      const before = await tableNames(url);
      const failure = await openPostgres({ url, migrationsFolder: broken }).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(DatabaseStartError);
      expect((failure as Error).message).toMatch(
        /^TOOLGATE_DATABASE_URL: a migration failed, the database stays at its previous version: .*no_such_table/,
      );
      expect(await tableNames(url)).toEqual(before);
      expect(await appliedMigrations(url)).toBe(journal.entries.length);

      // From empty: all pending migrations run in one transaction, so none of them is applied.
      const empty = await createTestDatabase();
      await expect(openPostgres({ url: empty, migrationsFolder: broken })).rejects.toThrow(
        DatabaseStartError,
      );
      expect(await tableNames(empty)).toEqual([]);

      // The lock was released: the real migrations still apply afterwards.
      await (await openPostgres({ url: empty })).close();
      expect(await appliedMigrations(empty)).toBe(journal.entries.length);
    } finally {
      fs.rmSync(broken, { recursive: true, force: true });
    }
  });
});
