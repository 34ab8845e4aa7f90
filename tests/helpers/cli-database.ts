/**
 * The database the CLI tests' `toolgate` processes use: in the `sqlite` project the SQLite file in
 * their data folder, in the `postgres` project a fresh PostgreSQL database (TOOLGATE_DATABASE_URL),
 * so every command those tests run is run on both stores. `query` reads it with `?` placeholders.
 */
import { notePostgresApp, withAppDb } from "./app-db";
import { onPostgres, takePostgresTestDatabase } from "./postgres-store";

export type CliDatabase = {
  /** Environment to add to the CLI's: the database URL on PostgreSQL, nothing on SQLite. */
  env: Record<string, string>;
  query<R = Record<string, unknown>>(sql: string, ...params: unknown[]): Promise<R[]>;
};

export function cliDatabase(dataDir: string): CliDatabase {
  const env: Record<string, string> = {};
  if (onPostgres) {
    env.TOOLGATE_DATABASE_URL = takePostgresTestDatabase();
    notePostgresApp(dataDir, env.TOOLGATE_DATABASE_URL);
  }
  return { env, query: (sql, ...params) => withAppDb(dataDir, (db) => db.all(sql, ...params)) };
}
