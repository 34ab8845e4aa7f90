import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findMigrationsFolder } from "~/db/client.server";
import { findPostgresMigrationsFolder } from "~/db/postgres.server";
import { shippedMigrationTimes } from "~/db/schema-version.server";
import { withAppDb } from "../helpers/app-db";
import { runCli } from "../helpers/built-app";
import { cliDatabase } from "../helpers/cli-database";
import { onPostgres } from "../helpers/postgres-store";

// An older Toolgate started on a database a newer one migrated (a downgrade without restoring the
// backup, or an old replica restarted mid-rollout) must refuse, say why and what to do, and change
// nothing; drizzle's migrators alone would apply nothing and let it start. Real CLI, both stores.
const MIGRATIONS = onPostgres ? "drizzle.__drizzle_migrations" : "__drizzle_migrations";
const newest = Math.max(
  ...shippedMigrationTimes(onPostgres ? findPostgresMigrationsFolder() : findMigrationsFolder()),
);

describe("a database migrated by a newer version", { timeout: 120_000 }, () => {
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  const toolgate = (args: string[], extra: Record<string, string> = {}) => runCli(args, { ...env, ...extra });
  const migrationRows = () =>
    withAppDb(dataDir, (db) =>
      db.all<{ createdAt: string | number }>(
        `select created_at as "createdAt" from ${MIGRATIONS} order by created_at`,
      ),
    );

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-newer-"));
    env = {
      ...process.env,
      TOOLGATE_DATA_DIR: dataDir,
      PUBLIC_URL: "https://toolgate.example.test",
      TOOLGATE_LOG_LEVEL: "silent",
      ...cliDatabase(dataDir).env,
    };
    const created = await runCli(
      ["user", "add", "--email", "owner@example.test", "--owner", "--password-stdin"],
      env,
      "correct horse battery staple\n",
    );
    expect(created.code, created.stderr).toBe(0);
  });
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it("is served while it is at this version's schema", async () => {
    const listed = await toolgate(["user", "list", "--json"]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toHaveLength(1);
  });

  it("is refused by serve and by every command, with the reason and the way out, and is left as it was", async () => {
    await withAppDb(dataDir, (db) =>
      db.run(
        `insert into ${MIGRATIONS} (hash, created_at) values (?, ?)`,
        "from-a-newer-version",
        newest + 86_400_000,
      ),
    );
    const before = await migrationRows();

    const served = await toolgate(["serve"], { PORT: "0", HOST: "127.0.0.1" });
    expect(served.code).toBe(1);
    expect(served.stderr).toMatch(
      /was upgraded by a newer version of Toolgate: it has 1 schema migration\(s\) this version does not know/,
    );
    expect(served.stderr).toContain("restore the backup taken before the upgrade");
    expect(served.stderr).toContain("TOOLGATE_ALLOW_NEWER_SCHEMA=true");
    expect(served.stderr).toContain(onPostgres ? "TOOLGATE_DATABASE_URL" : path.join(dataDir, "toolgate.db"));
    expect(served.stderr).not.toMatch(/\n\s+at /);
    expect(served.stdout).not.toContain("listening");

    for (const args of [
      ["user", "list", "--json"],
      ["user", "add", "--email", "second@example.test", "--no-password"],
    ]) {
      const res = await toolgate(args);
      expect(res.code, args.join(" ")).toBe(1);
      expect(res.stderr).toContain("was upgraded by a newer version of Toolgate");
    }

    expect(await migrationRows()).toEqual(before);
    const users = await withAppDb(dataDir, (db) => db.all<{ email: string }>("select email from users"));
    expect(users.map((u) => u.email)).toEqual(["owner@example.test"]);
  });

  it("starts anyway with TOOLGATE_ALLOW_NEWER_SCHEMA=true (rolling back an additive upgrade)", async () => {
    const listed = await toolgate(["user", "list", "--json"], { TOOLGATE_ALLOW_NEWER_SCHEMA: "true" });
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout).map((u: { email: string }) => u.email)).toEqual(["owner@example.test"]);
    const wrong = await toolgate(["user", "list"], { TOOLGATE_ALLOW_NEWER_SCHEMA: "maybe" });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain("TOOLGATE_ALLOW_NEWER_SCHEMA");
  });
});
