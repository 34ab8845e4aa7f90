/**
 * The column helpers the schema (app/db/schema-definition.ts) is written with, here for SQLite.
 * Their TypeScript types are the schema's types: app/db/columns-postgres.ts gives PostgreSQL the
 * same functions at run time and maps the resulting tables to PostgreSQL table types.
 */
import {
  blob,
  index,
  integer,
  primaryKey,
  sqliteTable,
  text,
  uniqueIndex,
  type SQLiteColumn,
} from "drizzle-orm/sqlite-core";

export const sqliteColumns = {
  table: sqliteTable,
  text,
  /** A whole number; times are epoch milliseconds, so PostgreSQL makes it a bigint. */
  integer: <N extends string>(name: N) => integer(name),
  boolean: <N extends string>(name: N) => integer(name, { mode: "boolean" }),
  /** Bytes, read back as a Buffer. */
  blob: <N extends string>(name: N) => blob(name, { mode: "buffer" }),
  /** A primary key the database numbers itself. */
  autoIncrementId: <N extends string>(name: N) => integer(name).primaryKey({ autoIncrement: true }),
  index,
  uniqueIndex,
  primaryKey,
  /**
   * The columns to append to an index so that it is ordered by row id: none in SQLite, whose
   * indexes all end with the rowid; the id itself in PostgreSQL.
   */
  rowOrder: (id: SQLiteColumn): SQLiteColumn[] => {
    void id;
    return [];
  },
};

export type SchemaColumns = typeof sqliteColumns;
