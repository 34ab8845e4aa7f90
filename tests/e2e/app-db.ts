/**
 * The running app's database, for browser tests that seed rows or read them back: the SQLite file
 * in its data folder (WAL, so the app sees a write on its next read), or the PostgreSQL database of
 * the `postgres` project (fixtures.ts notes which). SQL is written with `?` placeholders and in the
 * subset both dialects share.
 */
import path from "node:path";
import Database from "better-sqlite3";
import pg from "pg";

const postgresByDataDir = new Map<string, string>();

/** Called by startApp: the app with this data folder keeps its data in PostgreSQL at `url`. */
export function notePostgresApp(dataDir: string, url: string): void {
  postgresByDataDir.set(dataDir, url);
}

export type AppDb = {
  run(sql: string, ...params: unknown[]): Promise<void>;
  get<R>(sql: string, ...params: unknown[]): Promise<R | undefined>;
  all<R>(sql: string, ...params: unknown[]): Promise<R[]>;
};

/** Runs `work` on a connection of its own to the app's database, in one transaction. */
export async function withAppDb<T>(dataDir: string, work: (db: AppDb) => Promise<T>): Promise<T> {
  const url = postgresByDataDir.get(dataDir);
  if (url) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const query = async <R>(sql: string, params: unknown[]) => {
      let n = 0;
      return (await client.query(sql.replace(/\?/g, () => `$${++n}`), params)).rows as R[];
    };
    try {
      await client.query("begin");
      const value = await work({
        run: async (sql, ...params) => void (await query(sql, params)),
        get: async <R>(sql: string, ...params: unknown[]) => (await query<R>(sql, params))[0],
        all: (sql, ...params) => query(sql, params),
      });
      await client.query("commit");
      return value;
    } catch (error) {
      await client.query("rollback").catch(() => {});
      throw error;
    } finally {
      await client.end();
    }
  }
  const db = new Database(path.join(dataDir, "toolgate.db"));
  db.pragma("busy_timeout = 5000");
  try {
    db.prepare("begin immediate").run();
    const value = await work({
      run: async (sql, ...params) => void db.prepare(sql).run(...params),
      get: async <R>(sql: string, ...params: unknown[]) => db.prepare(sql).get(...params) as R | undefined,
      all: async <R>(sql: string, ...params: unknown[]) => db.prepare(sql).all(...params) as R[],
    });
    db.prepare("commit").run();
    return value;
  } catch (error) {
    if (db.inTransaction) db.prepare("rollback").run();
    throw error;
  } finally {
    db.close();
  }
}
