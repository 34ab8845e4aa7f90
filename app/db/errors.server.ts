import { DrizzleQueryError } from "drizzle-orm";

/**
 * The database cannot be used as configured (a bad setting, a database that cannot be reached, a
 * failed migration, a schema newer than this version): the message is for the operator as is.
 */
export class DatabaseStartError extends Error {
  override name = "DatabaseStartError";
}

/**
 * The database's own error behind one from the query builder (Drizzle wraps the driver's error as
 * the `cause` of a "Failed query" error), so callers can recognise a constraint failure.
 */
export function databaseErrorMessage(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.cause instanceof Error ? error.cause.message : error.message;
}

/**
 * Whether `error` is a failure of the unique index `index` (schema-definition.ts), on either
 * dialect: SQLite names the columns in its message ("UNIQUE constraint failed: users.email"),
 * PostgreSQL reports SQLSTATE 23505 with the index's name.
 */
export function isUniqueViolation(error: unknown, index: { name: string; sqliteColumns: string }): boolean {
  const cause = (error instanceof Error && error.cause) || error;
  const pg = cause as { code?: unknown; constraint?: unknown };
  if (pg.code === "23505") return pg.constraint === index.name;
  return databaseErrorMessage(error).includes(`UNIQUE constraint failed: ${index.sqliteColumns}`);
}

/**
 * Makes a Drizzle prepared-query class throw the driver's own error instead of its "Failed query:
 * <sql> params: <values>" wrapper (decision 051): the values can be secrets' hashes or sealed
 * secrets, which must not reach logs or answers, and callers recognise the database's messages
 * (constraint failures). `preparedQuery` is the class's prototype; each store applies it once.
 */
export function throwDriverErrors(preparedQuery: object): void {
  type QueryWithCache = (this: unknown, ...args: unknown[]) => Promise<unknown>;
  const target = preparedQuery as { queryWithCache: QueryWithCache };
  const wrapped = target.queryWithCache;
  target.queryWithCache = async function (this: unknown, ...args: unknown[]) {
    try {
      return await wrapped.apply(this, args);
    } catch (error) {
      throw error instanceof DrizzleQueryError && error.cause instanceof Error ? error.cause : error;
    }
  };
}
