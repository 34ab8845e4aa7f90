/**
 * The store: the one object through which the app reaches its database (docs/decisions/
 * 051-async-store.md). Domain modules get the ORM handle, the tables and the transaction from it,
 * so a second dialect can hand its own objects through the same interface.
 */
import type Database from "better-sqlite3";
import type pg from "pg";
import type { SqliteRemoteDatabase } from "drizzle-orm/sqlite-proxy";
import type * as schema from "./schema";
import type { HotSql } from "./hot.server";

/** The tables (and their TS types) of the current schema module. */
export type Tables = typeof schema;

/**
 * The async ORM handle. Domain code uses the portable subset only: await a query for an array,
 * `.returning()` to learn what changed, onConflictDoUpdate/DoNothing.
 */
export type Db = SqliteRemoteDatabase<Tables>;

/**
 * A transaction's own handle, given to the callback of `store.transaction`: statements made through
 * it belong to that transaction, and everything the callback calls takes it as an argument. The
 * store's own handle (`store.db`) belongs to no transaction (docs/decisions/056). It has the query
 * builder only, not Drizzle's relational API (`tx.query.*`, which domain code does not use): the
 * stores make one per transaction and skip building it.
 */
export type Tx = Db;

export interface StoreBase {
  readonly db: Db;
  readonly tables: Tables;
  /** The hand-written hot-path statements (app/db/hot.server.ts), one implementation per dialect. */
  readonly hot: HotSql;
  /**
   * Runs `work` in a transaction: committed when its promise resolves, rolled back when it
   * rejects. On SQLite transactions run one at a time. Given `parent` (an open transaction's
   * handle), it is a savepoint of that transaction; nested calls made side by side take turns.
   */
  transaction<T>(work: (tx: Tx) => Promise<T>, parent?: Tx): Promise<T>;
  /**
   * Group commit: `work` runs in a savepoint of a transaction shared with the other group
   * transactions started in the same event-loop turn, and resolves only after that transaction
   * committed. A `work` that rejects is rolled back alone and rejects at once. Given `parent`, a
   * savepoint of that transaction.
   */
  groupTransaction<T>(work: (tx: Tx) => Promise<T>, parent?: Tx): Promise<T>;
  /**
   * Runs `write`, one statement that needs no transaction around it (a single INSERT is atomic by
   * itself), and resolves once it is committed: on SQLite it joins the group commit (one commit
   * for the writes of an event-loop turn); on PostgreSQL it runs on the pool in autocommit, one
   * round trip instead of BEGIN, the statement and COMMIT. Not inside a transaction.
   */
  commitWrite<T>(write: (db: Db) => Promise<T>): Promise<T>;
  /** The folder timestamps of the migrations recorded as applied. */
  appliedMigrations(): Promise<number[]>;
  /** Waits for the open transaction, then closes the connection. */
  close(): Promise<void>;
  readonly closed: boolean;
}

export interface SqliteStore extends StoreBase {
  readonly dialect: "sqlite";
  /** The better-sqlite3 connection, for SQLite-only operations (backup, pragmas) and tests. */
  readonly sqlite: Database.Database;
}

export interface PostgresStore extends StoreBase {
  readonly dialect: "postgres";
  /** The connection pool, for PostgreSQL-only operations and tests. */
  readonly pool: pg.Pool;
  /** Whether the database answers within `timeoutMs` (readiness); never throws. */
  ping(timeoutMs?: number): Promise<boolean>;
}

/** Code that needs one dialect's own handle checks `store.dialect` first. */
export type Store = SqliteStore | PostgresStore;
