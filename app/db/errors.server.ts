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
