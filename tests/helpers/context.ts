import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import type Database from "better-sqlite3";
import { inject } from "vitest";
import { parseConfig, type Config } from "~/config.server";
import { createAppContext, DATABASE_FILE, type AppContext } from "~/context.server";
import { openStore } from "~/db/client.server";
import type { Store } from "~/db/store.server";
import { createLogger } from "~/utils/log.server";
import { onPostgres, postgresStoreOn, releasePostgresTestStore, takePostgresTestStore } from "./postgres-store";
import { postgresPlaceholders } from "./app-db";

/**
 * Tests may reach the SQLite connection (`ctx.store.sqlite`) to seed or inspect rows directly. In
 * the `postgres` project that property throws, naming the test as SQLite-bound, instead of being
 * undefined.
 */
export type TestStore = Store & { readonly sqlite: Database.Database };

export type TestContext = Omit<AppContext, "store"> & {
  store: TestStore;
  /**
   * The environment that points a CLI run or a child process at this context's database:
   * TOOLGATE_DATABASE_URL on PostgreSQL, nothing on SQLite (the data folder says it).
   */
  databaseEnv: Record<string, string>;
  /**
   * The first column of the first row of `sql` (with `?` placeholders) as a number, on either
   * dialect: for tests that count rows with SQL both dialects read alike.
   */
  countRows(sql: string, ...params: unknown[]): Promise<number>;
  /** A second store on the same database (another connection or pool), standing for another replica. */
  openReplicaStore(): Store;
  /** The rows of `sql` (with `?` placeholders, snake_case columns as named), on either dialect. */
  queryRows<R = Record<string, unknown>>(sql: string, ...params: unknown[]): Promise<R[]>;
  /** Moves the test clock. */
  advance(ms: number): void;
  setNow(ms: number): void;
  /** Every log line written through ctx.logger. */
  logs: string[];
  cleanup(): void;
};

/**
 * A real AppContext on its own SQLite file (a copy of the migrated template), with a controllable
 * clock and captured logs. Call `cleanup()` (or use `useTestContext`) when done. In the `postgres`
 * project (TOOLGATE_TEST_STORE=postgres) the store is on a fresh PostgreSQL database instead, and
 * the data folder holds no database.
 */
export function createTestContext(env: Record<string, string> = {}): TestContext {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-test-"));
  if (!onPostgres) fs.copyFileSync(inject("templateDb"), path.join(dir, DATABASE_FILE));
  const config: Config = parseConfig({
    PUBLIC_URL: "http://localhost:3000",
    TOOLGATE_DATA_DIR: dir,
    TOOLGATE_LOG_LEVEL: "debug",
    // The test clock stands still, so buckets would never refill; rate-limit tests turn it on.
    TOOLGATE_RATE_LIMIT: "off",
    ...env,
  });
  let now = Date.UTC(2026, 0, 1, 12, 0, 0);
  const logs: string[] = [];
  const base = {
    secrets: { sessionSecret: randomBytes(32).toString("base64url"), dataKey: randomBytes(32) },
    logger: createLogger("debug", (line) => logs.push(line)),
    now: () => now,
  };
  const controls = {
    advance(ms: number) {
      now += ms;
    },
    setNow(ms: number) {
      now = ms;
    },
    logs,
  };
  if (onPostgres) {
    const { store, url } = takePostgresTestStore();
    const queryPostgres = async (sql: string, params: unknown[]) =>
      (await store.pool.query<Record<string, unknown>>(postgresPlaceholders(sql), params)).rows;
    Object.defineProperty(store, "sqlite", {
      get() {
        throw new Error("ctx.store.sqlite: this test reads or writes the SQLite connection directly (SQLite-only test code)");
      },
    });
    return {
      ...createAppContext(config, { ...base, store }),
      store: store as TestStore,
      databaseEnv: { TOOLGATE_DATABASE_URL: url },
      async countRows(sql, ...params) {
        const [row] = await queryPostgres(sql, params);
        return Number(Object.values(row ?? {})[0] ?? 0);
      },
      queryRows: <R,>(sql: string, ...params: unknown[]) => queryPostgres(sql, params) as Promise<R[]>,
      openReplicaStore: () => postgresStoreOn(url),
      ...controls,
      cleanup() {
        releasePostgresTestStore(store);
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const store = openStore(path.join(dir, DATABASE_FILE));
  return {
    ...createAppContext(config, { ...base, store }),
    store,
    databaseEnv: {},
    async countRows(sql, ...params) {
      const row = store.sqlite.prepare(sql).get(...params) as Record<string, unknown> | undefined;
      return Number(Object.values(row ?? {})[0] ?? 0);
    },
    async queryRows<R>(sql: string, ...params: unknown[]) {
      const statement = store.sqlite.prepare(sql);
      // A statement without rows (an update) runs and gives none, as on PostgreSQL.
      if (!statement.reader) {
        statement.run(...params);
        return [];
      }
      return statement.all(...params) as R[];
    },
    openReplicaStore: () => openStore(path.join(dir, DATABASE_FILE)),
    ...controls,
    cleanup() {
      store.sqlite.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
