/**
 * The PostgreSQL store (docs/decisions/054-postgres-store.md): Drizzle's node-postgres driver over
 * the pool that openPostgres made, the same `StoreBase` as the SQLite store.
 *
 * A transaction is one pooled client between BEGIN and COMMIT/ROLLBACK. Its callback gets a handle
 * over that client (`tx`); what it calls takes the handle (a query, a `ctx.store.hot` function, a
 * nested `transaction(work, tx)`) and so runs on that client. The store's own handle runs on the
 * pool (docs/decisions/056). PostgreSQL has concurrent writers, so transactions of different
 * requests run side by side, each on its own connection.
 */
import type { NodePgDatabase } from "drizzle-orm/node-postgres";
import type pg from "pg";
import { postgresHotSql } from "./hot-postgres.server";
import type { PgTables } from "./columns-postgres";
import {
  isRetryableTransactionError,
  openPostgres,
  pingPostgres,
  type PostgresHandle,
  type PostgresSettings,
} from "./postgres.server";
import type { Db, PostgresStore, Tables, Tx } from "./store.server";
import { assertOutsideTransaction, inCheckedFrame, TransactionHandleError } from "./transaction-check.server";

/** Something node-postgres queries go to: the pool, or the client of an open transaction. */
export type Queryable = Pick<pg.Pool, "query">;

/** One open transaction: its client, and the queue its nested savepoints take turns in. */
type Frame = { client: pg.PoolClient; open: boolean; tail: Promise<unknown> };
const noop = () => {};

/** Attempts of a transaction PostgreSQL aborted for a concurrent one (serialization failure, deadlock). */
export const MAX_TRANSACTION_ATTEMPTS = 5;

/** Waits before another attempt: exponential with full jitter, so the contenders spread out. */
function backoff(attempt: number): Promise<void> {
  const ceiling = Math.min(200, 5 * 2 ** attempt);
  return new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling));
}

/** Waits for the nested calls made inside `frame` (those still queued when its callback returned). */
async function settled(frame: Frame): Promise<void> {
  for (;;) {
    const tail = frame.tail;
    await tail;
    if (tail === frame.tail) return;
  }
}

/**
 * The store over an open, migrated PostgreSQL handle (openPostgres). Closing the store ends the pool.
 */
export function createPostgresStore(handle: PostgresHandle): PostgresStore {
  const { pool } = handle;
  const { nodePg, pgCore, schema: pgSchema } = handle.modules;
  const dialect = new pgCore.PgDialect();

  // The store's own handle runs on the pool (the check of the test suite first: never from inside
  // a transaction's callback).
  const router: Queryable = {
    query: ((...args: Parameters<pg.Pool["query"]>) => {
      assertOutsideTransaction("A statement on the store's own handle");
      return pool.query(...args);
    }) as pg.Pool["query"],
  };

  // The cast: the domain code is typed on the SQLite instance's Drizzle types (store.server.ts `Db`,
  // `Tables`). It is sound for what domain code may use: both schema instances are built from one
  // definition (schema-definition.ts) with the same row types, and the portable subset (ESLint, and
  // the integration suite run on both dialects) keeps domain code to query-builder calls both
  // drivers implement alike (awaited arrays, .returning(), onConflictDo*).
  const asDb = (handle: unknown) => handle as Db;
  const db = asDb(nodePg.drizzle(router as pg.Pool, { schema: pgSchema }));
  const tables = pgSchema as unknown as Tables;

  // Where the hand-written statements given a handle run: a transaction's handle maps to its frame.
  const framesOf = new WeakMap<Db, Frame>();
  const queryableOf = (handle: Db): Queryable => {
    const frame = framesOf.get(handle);
    if (!frame) return router;
    if (!frame.open) throw new Error("the transaction is no longer open");
    return frame.client;
  };

  /**
   * A Drizzle handle over `frame`'s client. Made per transaction on the hot paths, so without the
   * relational query builders (store.server.ts `Tx`), which cost ~15 µs to build per handle.
   */
  const handleOn = (frame: Frame): Tx => {
    const session = new nodePg.NodePgSession(frame.client, dialect, undefined, {});
    const tx = new nodePg.NodePgDatabase(dialect, session, undefined) as NodePgDatabase<PgTables> & { $client: unknown };
    tx.$client = frame.client;
    const handle = asDb(tx);
    framesOf.set(handle, frame);
    return handle;
  };

  let openTransactions = 0;
  let drained: (() => void) | undefined;
  let closed = false;
  let savepoints = 0;

  /** A savepoint of `parent`'s transaction, after the parent's earlier nested calls (savepoints nest as a stack). */
  function inSavepoint<T>(parent: Frame, work: (tx: Tx) => Promise<T>): Promise<T> {
    const body = async (): Promise<T> => {
      if (!parent.open) throw new Error("the transaction is no longer open");
      const name = `sp${++savepoints}`;
      await parent.client.query(`savepoint ${name}`);
      const frame: Frame = { client: parent.client, open: true, tail: Promise.resolve() };
      try {
        const value = await inCheckedFrame(() => frame.open, () => work(handleOn(frame)));
        await settled(frame);
        await parent.client.query(`release savepoint ${name}`);
        return value;
      } catch (error) {
        await settled(frame);
        await parent.client.query(`rollback to savepoint ${name}`).catch(noop);
        throw error;
      } finally {
        frame.open = false;
      }
    };
    const run = parent.tail.then(body);
    parent.tail = run.then(noop, noop);
    return run;
  }

  /** One attempt: BEGIN, the callback, COMMIT; ROLLBACK when anything fails. */
  async function attempt<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    const frame: Frame = { client, open: true, tail: Promise.resolve() };
    let broken = false;
    try {
      await client.query("begin");
      const value = await inCheckedFrame(() => frame.open, () => work(handleOn(frame)));
      await settled(frame);
      await client.query("commit");
      return value;
    } catch (error) {
      await settled(frame);
      // A connection that cannot even roll back is dead: discarded rather than handed out again.
      await client.query("rollback").catch(() => {
        broken = true;
      });
      throw error;
    } finally {
      frame.open = false;
      client.release(broken);
    }
  }

  async function transaction<T>(work: (tx: Tx) => Promise<T>, parentHandle?: Tx): Promise<T> {
    if (parentHandle !== undefined) {
      const parent = framesOf.get(parentHandle);
      if (!parent) throw new TransactionHandleError("A transaction given the store's own handle as its parent");
      return inSavepoint(parent, work);
    }
    assertOutsideTransaction("A transaction on the store's own handle");
    if (closed) throw new Error("the store is closed");
    openTransactions++;
    try {
      // Under READ COMMITTED a conflicting write waits for the other one instead of failing, so a
      // retry is for deadlocks (and serialization failures if the database's default isolation is
      // stricter). `work` runs again from the start: it must not have effects outside the database.
      for (let n = 1; ; n++) {
        try {
          return await attempt(work);
        } catch (error) {
          if (n >= MAX_TRANSACTION_ATTEMPTS || !isRetryableTransactionError(error)) throw error;
          await backoff(n);
        }
      }
    } finally {
      if (--openTransactions === 0) drained?.();
    }
  }

  return {
    dialect: "postgres",
    pool,
    db,
    tables,
    hot: postgresHotSql(queryableOf, pool),
    transaction,
    // PostgreSQL has concurrent writers and commits each connection on its own: grouping commits
    // in one transaction would only make the callers wait for each other.
    groupTransaction: transaction,
    commitWrite: (write) => write(db),
    async appliedMigrations() {
      const result = await pool.query<{ created_at: number | string }>(
        "select created_at from drizzle.__drizzle_migrations",
      );
      return result.rows.map((r) => Number(r.created_at));
    },
    ping: (timeoutMs) => pingPostgres(pool, timeoutMs),
    async close() {
      if (closed) return;
      closed = true;
      if (openTransactions > 0) await new Promise<void>((resolve) => (drained = resolve));
      await handle.close();
    },
    get closed() {
      return closed;
    },
  };
}

/** Connects (retrying, then DatabaseStartError), migrates under the advisory lock, returns the store. */
export async function openPostgresStore(settings: PostgresSettings & { migrate?: boolean; allowNewerSchema?: boolean }): Promise<PostgresStore> {
  return createPostgresStore(await openPostgres(settings));
}
