import os from "node:os";
import { fileURLToPath } from "node:url";
import { defineConfig, type TestProjectInlineConfiguration } from "vitest/config";

const alias = { "~": fileURLToPath(new URL("./app", import.meta.url)) };
const shared = {
  globalSetup: ["tests/setup/global-setup.ts", "tests/helpers/postgres-global-setup.ts"],
  setupFiles: ["tests/setup/fail-on-console.ts"],
  pool: "forks" as const,
  // Every statement inside a transaction must go through its handle: the stores check it here
  // (app/db/transaction-check.server.ts), and so do the app processes the tests start.
  env: { TOOLGATE_CHECK_TRANSACTIONS: "1" },
  testTimeout: 30_000,
  hookTimeout: 60_000,
};

/**
 * Integration files that test SQLite-only mechanics, or that already run on PostgreSQL on their
 * own: left out of the `postgres` project (each with its reason).
 */
const SQLITE_ONLY = [
  // WAL checkpoint threshold: a SQLite pragma.
  "tests/integration/db-wal-checkpoint.test.ts",
  // Group commit internals: PostgreSQL's groupTransaction is a plain transaction.
  "tests/integration/db-group-commit.test.ts",
  // `toolgate backup` uses SQLite's online backup API; on PostgreSQL it points to pg_dump.
  "tests/integration/ops-backup.test.ts",
  // Upgrades a SQLite fixture file from earlier versions.
  "tests/integration/upgrade.test.ts",
  // The bench seeds a SQLite file directly.
  "tests/integration/bench-seed.test.ts",
  // The SQLite store's own guard (one connection, interleaving); store-postgres.test.ts covers PostgreSQL's.
  "tests/integration/store-transactions.test.ts",
  // These open their own PostgreSQL databases (and SQLite files) whatever the project.
  "tests/integration/postgres-*.test.ts",
  "tests/integration/store-postgres.test.ts",
  "tests/integration/store-hot-sql.test.ts",
  "tests/integration/db-copy.test.ts",
  // Seeds 200,000 audit rows through SQLite's connection and bounds the reads by the test
  // process's CPU time, which sees SQLite's work but not a PostgreSQL server's;
  // activity-bounded-postgres.test.ts bounds the rows PostgreSQL reads instead.
  "tests/integration/activity-bounded.test.ts",
  // Parses documents and touches no database (openapi-import-apply, which does, runs on both).
  "tests/integration/openapi-import.test.ts",
];

/**
 * PostgreSQL-only: several replicas need a database server they can share; the Activity page's
 * bounded reads are asked of PostgreSQL's planner (activity-bounded.test.ts measures SQLite's).
 */
const POSTGRES_ONLY = ["tests/integration/replicas.test.ts", "tests/integration/activity-bounded-postgres.test.ts"];

const projects: TestProjectInlineConfiguration[] = [
  {
    resolve: { alias },
    test: { ...shared, name: "sqlite", include: ["app/**/*.test.ts", "tests/integration/**/*.test.ts"], exclude: POSTGRES_ONLY },
  },
  {
    resolve: { alias },
    test: {
      ...shared,
      name: "postgres",
      include: ["tests/integration/**/*.test.ts"],
      exclude: SQLITE_ONLY,
      globalSetup: [...shared.globalSetup, "tests/setup/postgres-template.ts"],
      setupFiles: [...shared.setupFiles, "tests/setup/postgres-store.ts"],
      env: { ...shared.env, TOOLGATE_TEST_STORE: "postgres" },
    },
  },
];

export default defineConfig({
  resolve: { alias },
  test: {
    projects,
    // Vitest's default in a run is one worker fewer than the cores: one worker on a 2-core machine.
    // Most of a file's time is spent waiting (child processes, sockets, PostgreSQL), so as many
    // workers as cores halves the run there (measured: 904 s with one worker, 448 s with two).
    maxWorkers: Math.max(2, os.availableParallelism()),
  },
});
