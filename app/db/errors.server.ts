/**
 * The database's own error behind one from the query builder (Drizzle wraps the driver's error as
 * the `cause` of a "Failed query" error), so callers can recognise a constraint failure.
 */
export function databaseErrorMessage(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.cause instanceof Error ? error.cause.message : error.message;
}
