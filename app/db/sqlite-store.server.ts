/**
 * The SQLite store: Drizzle's async driver (sqlite-proxy) over one better-sqlite3 connection, with
 * transactions made safe for async callbacks (docs/decisions/051-async-store.md, 056).
 *
 * better-sqlite3 has one connection and one transaction state. With async callbacks, another
 * request's continuation can run between two statements of an open transaction; on a bare
 * connection its statements would join that transaction (and vanish with its rollback). So every
 * statement passes a gate. A transaction's callback gets a handle of its own (`tx`), bound to its
 * frame: statements made through it run at once while that transaction is open. Statements made
 * through the store's own handle belong to no transaction and wait until the open one has ended.
 */
import type Database from "better-sqlite3";
import { createTableRelationsHelpers, extractTablesRelationalConfig } from "drizzle-orm";
import { RemotePreparedQuery, SQLiteRemoteSession, SqliteRemoteDatabase } from "drizzle-orm/sqlite-proxy";
import { SQLiteAsyncDialect } from "drizzle-orm/sqlite-core";
import { throwDriverErrors } from "./errors.server";
import * as schema from "./schema";
import { sqliteHotSql } from "./hot-sqlite.server";
import type { Db, SqliteStore, Tx } from "./store.server";
import { assertOutsideTransaction, inCheckedFrame, TransactionHandleError } from "./transaction-check.server";

/** One open transaction (or group) on a connection; nested frames share its root. */
type Root = { open: boolean };
type Frame = { root: Root; tail: Promise<unknown>; depth: number };

type Group = {
  root: Root;
  frame: Frame;
  accepting: boolean;
  committed: Promise<void>;
};

type Method = "run" | "all" | "values" | "get";

// Drizzle's async drivers wrap a failed statement; the synchronous driver let SQLite's own error
// through, and the store keeps it so (errors.server.ts).
throwDriverErrors(RemotePreparedQuery.prototype);
const noop = () => {};

/** Distinct query-builder SQL texts kept prepared; `inArray` lists make the set open-ended. */
const MAX_PREPARED = 1000;

// The store's own handle carries the relational schema; a transaction's handle, made per transaction
// on the hot paths, does not (store.server.ts `Tx`): building its relational query builders cost
// ~15 µs, a Drizzle handle without them ~1.5 µs.
const dialect = new SQLiteAsyncDialect();
const relational = extractTablesRelationalConfig(schema, createTableRelationsHelpers);
const schemaConfig = { fullSchema: schema, schema: relational.tables, tableNamesMap: relational.tableNamesMap };

/** The rows of one prepared query, as objects (SqliteConnection.reader). */
export type RowReader<R> = { get(...params: unknown[]): R | undefined; all(...params: unknown[]): R[] };

export class SqliteConnection {
  /** The open transaction or group, or null. */
  active: Root | null = null;
  private idleWaiters: (() => void)[] = [];
  private readonly raw = new Map<string, Database.Statement>();
  private readonly statements = new Map<string, Database.Statement>();
  private readonly readers = new Map<string, RowReader<unknown>>();
  /** The frame each transaction's handle belongs to; the store's own handle has none. */
  private readonly frames = new WeakMap<object, Frame>();
  group: Group | null = null;
  /** The store's own handle: its statements belong to no transaction. */
  readonly db: Db;

  constructor(readonly sqlite: Database.Database) {
    this.db = this.handle((sql, params, method) => this.execute(null, sql, params, method), schemaConfig);
  }

  private handle(callback: (sql: string, params: unknown[], method: Method) => Promise<{ rows: unknown[] }>, relations?: typeof schemaConfig): Db {
    const session = new SQLiteRemoteSession(callback, dialect, relations as never, undefined, {});
    return new SqliteRemoteDatabase("async", dialect, session, relations as never) as unknown as Db;
  }

  /** A new handle for `frame`'s callback: its statements belong to that transaction. */
  private handleFor(frame: Frame): Tx {
    const tx = this.handle((sql, params, method) => this.execute(frame, sql, params, method));
    this.frames.set(tx, frame);
    return tx;
  }

  /** The frame of a transaction's handle; null for the store's own handle (or none given). */
  frameOf(handle: object | undefined): Frame | null {
    return handle === undefined ? null : (this.frames.get(handle) ?? null);
  }

  /** True when a statement of `frame` (null: of no transaction) may run now. */
  private mayRun(frame: Frame | null): boolean {
    return frame === null ? this.active === null : frame.root === this.active && frame.root.open;
  }

  /**
   * Waits until a statement of `frame` may run: one of no transaction waits for the open one to
   * end; one of a transaction that has ended is refused.
   */
  async gate(frame: Frame | null = null): Promise<void> {
    while (!this.mayRun(frame)) {
      if (frame !== null) throw new Error("the transaction is no longer open");
      assertOutsideTransaction("A statement on the store's own handle");
      await this.idle();
    }
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

  /**
   * A hand-written query (hot-path SQL) answering objects named by its columns, prepared once per
   * SQL text. Rows are read as arrays and named here: better-sqlite3 names each column of each row
   * through V8's API, which costs about 1 µs more per row of a dozen columns than this loop
   * (measured on the access-token read of every MCP request). Only for statements that return rows.
   */
  reader<R>(sql: string): RowReader<R> {
    let reader = this.readers.get(sql);
    if (!reader) {
      const prepared = this.sqlite.prepare(sql).raw(true);
      const names = prepared.columns().map((column) => column.name);
      const named = (values: unknown[]) => {
        const row: Record<string, unknown> = {};
        for (let i = 0; i < names.length; i++) row[names[i]!] = values[i];
        return row;
      };
      reader = {
        get: (...params) => {
          const values = prepared.get(...params) as unknown[] | undefined;
          return values === undefined ? undefined : named(values);
        },
        all: (...params) => (prepared.all(...params) as unknown[][]).map(named),
      };
      this.readers.set(sql, reader);
    }
    return reader as RowReader<R>;
  }

  /** A statement (the hand-written hot-path SQL); prepared once per SQL text. */
  statement<P extends unknown[] = unknown[], R = unknown>(sql: string): Database.Statement<P, R> {
    let prepared = this.statements.get(sql);
    if (!prepared) {
      prepared = this.sqlite.prepare(sql);
      this.statements.set(sql, prepared);
    }
    return prepared as Database.Statement<P, R>;
  }

  /** Drizzle's proxy callback: every query-builder statement of `frame`'s handle passes here. */
  private async execute(frame: Frame | null, sql: string, params: unknown[], method: Method): Promise<{ rows: unknown[] }> {
    if (!this.mayRun(frame)) await this.gate(frame);
    const prepared = this.rawStatement(sql);
    if (method === "run" || !prepared.reader) {
      prepared.run(...params);
      return { rows: [] };
    }
    if (method === "get") return { rows: prepared.get(...params) as unknown[] };
    return { rows: prepared.all(...params) as unknown[] };
  }

  /**
   * Runs synchronous `work` (hand-written statements) for `handle` (a transaction's, or the
   * store's own) once its statements may run. Outside a transaction it runs in one turn, so
   * nothing can interleave with it.
   */
  async run<T>(handle: object | undefined, work: () => T): Promise<T> {
    const frame = this.frameOf(handle);
    if (!this.mayRun(frame)) await this.gate(frame);
    return work();
  }

  /** Runs synchronous `work` as one BEGIN IMMEDIATE transaction of its own, outside every other. */
  async atomically<T>(work: () => T): Promise<T> {
    if (!this.mayRun(null)) await this.gate(null);
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

  /** Runs `work` in a savepoint of `parent`'s transaction, after the parent's earlier nested calls. */
  private inSavepoint<T>(parent: Frame, work: (tx: Tx) => Promise<T>): Promise<T> {
    const body = async (): Promise<T> => {
      if (!parent.root.open || this.active !== parent.root) throw new Error("the transaction is no longer open");
      // Named by depth: savepoints of one frame run one after another, so a name is reused only
      // once the previous one with it was released, and the statements stay prepared.
      const frame: Frame = { root: parent.root, tail: Promise.resolve(), depth: parent.depth + 1 };
      const name = `sp${frame.depth}`;
      this.statement(`SAVEPOINT ${name}`).run();
      try {
        const value = await inCheckedFrame(() => this.mayRun(frame), () => work(this.handleFor(frame)));
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

  /** The open frame of `parent` (a transaction's handle) for a nested call, or null for a new transaction. */
  private parentFrame(parent: Tx | undefined, what: string): Frame | null {
    if (parent === undefined) {
      assertOutsideTransaction(what);
      return null;
    }
    const frame = this.frameOf(parent);
    if (frame === null) throw new TransactionHandleError(`${what} given the store's own handle as its parent`);
    return frame;
  }

  async transaction<T>(work: (tx: Tx) => Promise<T>, parent?: Tx): Promise<T> {
    const outer = this.parentFrame(parent, "A transaction on the store's own handle");
    if (outer) return this.inSavepoint(outer, work);
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
      const value = await inCheckedFrame(() => this.mayRun(frame), () => work(this.handleFor(frame)));
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
  async groupTransaction<T>(work: (tx: Tx) => Promise<T>, parent?: Tx): Promise<T> {
    // Inside the caller's own transaction: a plain savepoint of it.
    const outer = this.parentFrame(parent, "A group transaction on the store's own handle");
    if (outer) return this.inSavepoint(outer, work);
    const group = this.group?.accepting ? this.group : this.openGroup();
    const value = await this.inSavepoint(group.frame, work);
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
  const { db } = connection;
  let closed = false;
  return {
    dialect: "sqlite",
    sqlite,
    db,
    tables: schema,
    hot: sqliteHotSql(connection),
    transaction: (work, parent) => connection.transaction(work, parent),
    groupTransaction: (work, parent) => connection.groupTransaction(work, parent),
    commitWrite: (write) => connection.groupTransaction(write),
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
