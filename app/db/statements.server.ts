/**
 * SQL statements prepared once per database connection. Building a query with Drizzle's query
 * builder and preparing it costs more CPU than running it (tens of microseconds per statement), so
 * the hot paths (/token, the MCP endpoint) run fixed SQL through better-sqlite3 directly. Statements
 * run on the same connection as Drizzle's, so they take part in its transactions.
 */
import type Database from "better-sqlite3";
import type { Db } from "./client.server";

const caches = new WeakMap<Database.Database, Map<string, Database.Statement>>();

export function statement<P extends unknown[] = unknown[], R = unknown>(db: Pick<Db, "$client">, sql: string): Database.Statement<P, R> {
  const client = db.$client;
  let cache = caches.get(client);
  if (!cache) {
    cache = new Map();
    caches.set(client, cache);
  }
  let prepared = cache.get(sql);
  if (!prepared) {
    prepared = client.prepare(sql);
    cache.set(sql, prepared);
  }
  return prepared as Database.Statement<P, R>;
}

type Work = () => unknown;
const immediateRuns = new WeakMap<Database.Database, (work: Work) => unknown>();

/**
 * Runs `work` in a BEGIN IMMEDIATE transaction on `db`'s connection (a savepoint when one is
 * already open): committed when it returns, rolled back when it throws. The same as Drizzle's
 * `db.transaction(fn, { behavior: "immediate" })`, without building a transaction object and a
 * new better-sqlite3 wrapper on every call; statements and Drizzle queries on `db` take part in it.
 */
export function immediateTransaction<T>(db: Pick<Db, "$client">, work: () => T): T {
  const client = db.$client;
  let run = immediateRuns.get(client);
  if (!run) {
    run = client.transaction((w: Work) => w()).immediate;
    immediateRuns.set(client, run);
  }
  return run(work) as T;
}

type Waiter = { resolve: () => void; reject: (error: unknown) => void };
type Group = { waiters: Waiter[] };
const openGroups = new WeakMap<Database.Database, Group>();

/**
 * Group commit: runs `work` at once, in a savepoint of one BEGIN IMMEDIATE transaction shared by
 * every `groupTransaction` of the same event-loop turn, and resolves with its result only after
 * that transaction has committed (at the end of the turn, in a setImmediate). Each `work` is still
 * all or nothing: one that throws is rolled back alone and rejects at once (nothing of it is
 * written). A failed COMMIT rejects every waiter of the group; none of them has answered yet.
 *
 * One COMMIT (the WAL writes of every changed page, and the occasional checkpoint) is about half of
 * a refresh grant's CPU; sharing it between the grants that arrive together is what lets /token keep
 * up under load (docs/decisions/024-group-commit-on-the-token-endpoint.md). While a group is open,
 * other statements on the connection (autocommit writes, `db.transaction()` calls, which nest as
 * savepoints) join it and are committed with it at the end of the turn.
 */
export function groupTransaction<T>(db: Pick<Db, "$client">, work: () => T): Promise<T> {
  const client = db.$client;
  let group = openGroups.get(client);
  if (!group) {
    // Inside someone else's transaction (a caller's own): a plain savepoint of it.
    if (client.inTransaction) return Promise.resolve(immediateTransaction(db, work));
    statement(db, "BEGIN IMMEDIATE").run();
    const opened: Group = { waiters: [] };
    group = opened;
    openGroups.set(client, opened);
    setImmediate(() => commitGroup(db, opened));
  }
  let value: T;
  try {
    value = immediateTransaction(db, work);
  } catch (error) {
    return Promise.reject(error);
  }
  const waiters = group.waiters;
  return new Promise<T>((resolve, reject) => waiters.push({ resolve: () => resolve(value), reject }));
}

function commitGroup(db: Pick<Db, "$client">, group: Group): void {
  const client = db.$client;
  openGroups.delete(client);
  try {
    statement(db, "COMMIT").run();
  } catch (error) {
    try {
      if (client.inTransaction) statement(db, "ROLLBACK").run();
    } catch {
      // The connection is closed or broken; the waiters hear of the first error.
    }
    for (const waiter of group.waiters) waiter.reject(error);
    return;
  }
  for (const waiter of group.waiters) waiter.resolve();
}
