/**
 * The SQLite store: Drizzle's async driver (sqlite-proxy) over one better-sqlite3 connection, with
 * transactions made safe for async callbacks (docs/decisions/051-async-store.md).
 *
 * better-sqlite3 has one connection and one transaction state. With async callbacks, another
 * request's continuation can run between two statements of an open transaction; on a bare
 * connection its statements would join that transaction (and vanish with its rollback). So every
 * statement goes through `gate`: one that does not belong to the open transaction (told by
 * AsyncLocalStorage) waits until that transaction has ended.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type Database from "better-sqlite3";
import { DrizzleQueryError } from "drizzle-orm";
import { drizzle, RemotePreparedQuery } from "drizzle-orm/sqlite-proxy";
import * as schema from "./schema";
import { sqliteHotSql } from "./hot-sqlite.server";
import type { Db, SqliteStore, Tx } from "./store.server";

/** One open transaction (or group) on a connection; nested frames share its root. */
type Root = { open: boolean };
type Frame = { root: Root; tail: Promise<unknown>; depth: number };

type Group = {
  root: Root;
  frame: Frame;
  accepting: boolean;
  committed: Promise<void>;
};

const frames = new AsyncLocalStorage<Frame>();

// Drizzle's async drivers wrap a failed statement in "Failed query: <sql> params: <values>"; the
// synchronous driver let SQLite's own error through. The values can be secrets' hashes or sealed
// secrets, which must not reach logs or answers, and callers recognise SQLite's messages
// (constraint failures), so the store keeps SQLite's error.
type QueryWithCache = (this: unknown, ...args: unknown[]) => Promise<unknown>;
const prototype = RemotePreparedQuery.prototype as unknown as { queryWithCache: QueryWithCache };
const wrapped = prototype.queryWithCache;
prototype.queryWithCache = async function (this: unknown, ...args: unknown[]) {
  try {
    return await wrapped.apply(this, args);
  } catch (error) {
    throw error instanceof DrizzleQueryError && error.cause instanceof Error ? error.cause : error;
  }
};
const noop = () => {};

/** Distinct query-builder SQL texts kept prepared; `inArray` lists make the set open-ended. */
const MAX_PREPARED = 1000;

export class SqliteConnection {
  /** The open transaction or group, or null. */
  active: Root | null = null;
  private idleWaiters: (() => void)[] = [];
  private readonly raw = new Map<string, Database.Statement>();
  private readonly objects = new Map<string, Database.Statement>();
  group: Group | null = null;

  constructor(readonly sqlite: Database.Database) {}

  /** True when a statement made now may run at once: no transaction open, or made inside it. */
  mayRun(): boolean {
    return this.active === null || frames.getStore()?.root === this.active;
  }

  /** Waits until a statement made in the current async context may run. */
  async gate(): Promise<void> {
    while (!this.mayRun()) await this.idle();
  }

  private idle(): Promise<void> {
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async acquire(root: Root): Promise<void> {
    while (this.active !== null) await this.idle();
    this.active = root;
  }

  private release(root: Root): void {
    root.open = false;
    if (this.active === root) this.active = null;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const wake of waiters) wake();
  }

  /** A statement returning arrays (the query builder's rows); prepared once per SQL text. */
  private rawStatement(sql: string): Database.Statement {
    let prepared = this.raw.get(sql);
    if (!prepared) {
      if (this.raw.size >= MAX_PREPARED) this.raw.clear();
      prepared = this.sqlite.prepare(sql);
      if (prepared.reader) prepared.raw(true);
      this.raw.set(sql, prepared);
    }
    return prepared;
  }

  /** A statement returning objects (the hand-written hot-path SQL); prepared once per SQL text. */
  statement<P extends unknown[] = unknown[], R = unknown>(sql: string): Database.Statement<P, R> {
    let prepared = this.objects.get(sql);
    if (!prepared) {
      prepared = this.sqlite.prepare(sql);
      this.objects.set(sql, prepared);
    }
    return prepared as Database.Statement<P, R>;
  }

  /** Drizzle's proxy callback: every query-builder statement passes here. */
  readonly execute = async (sql: string, params: unknown[], method: "run" | "all" | "values" | "get"): Promise<{ rows: unknown[] }> => {
    if (!this.mayRun()) await this.gate();
    const prepared = this.rawStatement(sql);
    if (method === "run" || !prepared.reader) {
      prepared.run(...params);
      return { rows: [] };
    }
    if (method === "get") return { rows: prepared.get(...params) as unknown[] };
    return { rows: prepared.all(...params) as unknown[] };
  };

  /**
   * Runs synchronous `work` (hand-written statements) once statements of this context may run.
   * When there is no open transaction it runs in one turn, so nothing can interleave with it.
   */
  async run<T>(work: () => T): Promise<T> {
    if (!this.mayRun()) await this.gate();
    return work();
  }

  /** Runs synchronous `work` as one BEGIN IMMEDIATE transaction (a savepoint inside the caller's). */
  async atomically<T>(work: () => T): Promise<T> {
    if (!this.mayRun()) await this.gate();
    if (this.sqlite.inTransaction) return this.inSyncSavepoint(work);
    this.statement("BEGIN IMMEDIATE").run();
    try {
      const value = work();
      this.statement("COMMIT").run();
      return value;
    } catch (error) {
      if (this.sqlite.inTransaction) this.statement("ROLLBACK").run();
      throw error;
    }
  }

  private inSyncSavepoint<T>(work: () => T): T {
    // Synchronous work runs to its end before anything else: one name is enough.
    this.statement("SAVEPOINT atomic").run();
    try {
      const value = work();
      this.statement("RELEASE atomic").run();
      return value;
    } catch (error) {
      this.statement("ROLLBACK TO atomic").run();
      this.statement("RELEASE atomic").run();
      throw error;
    }
  }

  /** Runs `work` in a savepoint of `parent`'s transaction, after the parent's earlier nested calls. */
  private inSavepoint<T>(parent: Frame, db: Db, work: (tx: Tx) => Promise<T>): Promise<T> {
    const body = async (): Promise<T> => {
      if (!parent.root.open || this.active !== parent.root) throw new Error("the transaction is no longer open");
      // Named by depth: savepoints of one frame run one after another, so a name is reused only
      // once the previous one with it was released, and the statements stay prepared.
      const frame: Frame = { root: parent.root, tail: Promise.resolve(), depth: parent.depth + 1 };
      const name = `sp${frame.depth}`;
      this.statement(`SAVEPOINT ${name}`).run();
      try {
        const value = await frames.run(frame, () => work(db));
        await settled(frame);
        this.statement(`RELEASE ${name}`).run();
        return value;
      } catch (error) {
        await settled(frame);
        if (this.sqlite.inTransaction) {
          this.statement(`ROLLBACK TO ${name}`).run();
          this.statement(`RELEASE ${name}`).run();
        }
        throw error;
      }
    };
    // Savepoints nest as a stack: calls made side by side inside one transaction take turns.
    const run = parent.tail.then(body);
    parent.tail = run.then(noop, noop);
    return run;
  }

  async transaction<T>(db: Db, work: (tx: Tx) => Promise<T>): Promise<T> {
    const current = frames.getStore();
    if (current && current.root === this.active) return this.inSavepoint(current, db, work);
    const root: Root = { open: true };
    await this.acquire(root);
    try {
      this.statement("BEGIN IMMEDIATE").run();
    } catch (error) {
      this.release(root);
      throw error;
    }
    const frame: Frame = { root, tail: Promise.resolve(), depth: 0 };
    try {
      const value = await frames.run(frame, () => work(db));
      await settled(frame);
      this.statement("COMMIT").run();
      return value;
    } catch (error) {
      await settled(frame);
      try {
        if (this.sqlite.inTransaction) this.statement("ROLLBACK").run();
      } catch {
        // The connection is closed or broken; the caller hears of the first error.
      }
      throw error;
    } finally {
      this.release(root);
    }
  }

  /**
   * Group commit (docs/decisions/024-group-commit-on-the-token-endpoint.md): the group transactions
   * of one event-loop turn run one after another, each in its savepoint of one BEGIN IMMEDIATE
   * transaction, committed once at the end of the turn; each resolves after that COMMIT.
   */
  async groupTransaction<T>(db: Db, work: (tx: Tx) => Promise<T>): Promise<T> {
    const current = frames.getStore();
    // Inside the caller's own transaction: a plain savepoint of it.
    if (current && current.root === this.active) return this.inSavepoint(current, db, work);
    const group = this.group?.accepting ? this.group : this.openGroup();
    const value = await this.inSavepoint(group.frame, db, work);
    await group.committed;
    return value;
  }

  private openGroup(): Group {
    const root: Root = { open: true };
    let opened!: () => void;
    let failed!: (error: unknown) => void;
    const ready = new Promise<void>((resolve, reject) => {
      opened = resolve;
      failed = reject;
    });
    const frame: Frame = { root, tail: ready, depth: 0 };
    const group: Group = { root, frame, accepting: true, committed: Promise.resolve() };
    this.group = group;
    group.committed = (async () => {
      try {
        await this.acquire(root);
        this.statement("BEGIN IMMEDIATE").run();
      } catch (error) {
        this.closeGroup(group);
        this.release(root);
        failed(error);
        throw error;
      }
      opened();
      // The grants that arrive in this turn join; the COMMIT comes after them.
      await new Promise<void>((resolve) => setImmediate(resolve));
      this.closeGroup(group);
      await settled(frame);
      try {
        this.statement("COMMIT").run();
      } catch (error) {
        try {
          if (this.sqlite.inTransaction) this.statement("ROLLBACK").run();
        } catch {
          // The connection is closed or broken; the waiters hear of the first error.
        }
        throw error;
      } finally {
        this.release(root);
      }
    })();
    group.committed.catch(noop);
    return group;
  }

  private closeGroup(group: Group): void {
    group.accepting = false;
    if (this.group === group) this.group = null;
  }

  /** Resolves once no transaction is open. */
  async quiesce(): Promise<void> {
    while (this.active !== null) await this.idle();
  }
}

/** Waits for the nested calls made inside `frame` (those still queued when its callback returned). */
async function settled(frame: Frame): Promise<void> {
  for (;;) {
    const tail = frame.tail;
    await tail;
    if (tail === frame.tail) return;
  }
}

const stores = new WeakMap<Database.Database, SqliteStore>();

/**
 * The store on an open, migrated better-sqlite3 connection; one per connection, since the
 * transaction state it guards is the connection's.
 */
export function createSqliteStore(sqlite: Database.Database): SqliteStore {
  const existing = stores.get(sqlite);
  if (existing) return existing;
  const store = buildStore(sqlite);
  stores.set(sqlite, store);
  return store;
}

function buildStore(sqlite: Database.Database): SqliteStore {
  const connection = new SqliteConnection(sqlite);
  const db: Db = drizzle(connection.execute, { schema });
  let closed = false;
  return {
    dialect: "sqlite",
    sqlite,
    db,
    tables: schema,
    hot: sqliteHotSql(connection),
    transaction: (work) => connection.transaction(db, work),
    groupTransaction: (work) => connection.groupTransaction(db, work),
    async appliedMigrations() {
      await connection.gate();
      const rows = sqlite.prepare("select created_at from __drizzle_migrations").all() as { created_at: number | string }[];
      return rows.map((r) => Number(r.created_at));
    },
    async close() {
      if (closed) return;
      await connection.quiesce();
      closed = true;
      if (!sqlite.open) return;
      sqlite.pragma("optimize");
      sqlite.close();
    },
    get closed() {
      return closed || !sqlite.open;
    },
  };
}
