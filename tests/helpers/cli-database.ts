/**
 * The database the CLI tests' `toolgate` processes use: in the `sqlite` project the SQLite file in
 * their data folder, in the `postgres` project a fresh PostgreSQL database (TOOLGATE_DATABASE_URL),
 * so every command those tests run is run on both stores. `query` reads it with `?` placeholders.
 */
import path from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { DATABASE_FILE } from "~/context.server";
import { onPostgres, takePostgresTestDatabase } from "./postgres-store";

export type CliDatabase = {
  /** Environment to add to the CLI's: the database URL on PostgreSQL, nothing on SQLite. */
  env: Record<string, string>;
  query<R = Record<string, unknown>>(sql: string, ...params: unknown[]): Promise<R[]>;
};

export function cliDatabase(dataDir: string): CliDatabase {
  if (onPostgres) {
    const url = takePostgresTestDatabase();
    return {
      env: { TOOLGATE_DATABASE_URL: url },
      async query<R>(sql: string, ...params: unknown[]) {
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        try {
          let n = 0;
          return (await client.query(sql.replace(/\?/g, () => `$${++n}`), params)).rows as R[];
        } finally {
          await client.end();
        }
      },
    };
  }
  return {
    env: {},
    async query<R>(sql: string, ...params: unknown[]) {
      const db = new Database(path.join(dataDir, DATABASE_FILE), { readonly: true });
      try {
        return db.prepare(sql).all(...params) as R[];
      } finally {
        db.close();
      }
    },
  };
}
