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
