/**
 * The schema's column helpers for PostgreSQL: the same functions as app/db/columns.ts, so
 * app/db/schema-definition.ts builds PostgreSQL tables from the same text. Whole numbers are
 * `bigint` read as JS numbers (epoch milliseconds exceed int4), booleans are `boolean`, bytes are
 * `bytea` read as a Buffer, a self-numbered id is a bigint identity column.
 */
import type { Column, ColumnBaseConfig, ColumnDataType, Table } from "drizzle-orm";
import {
  bigint,
  boolean,
  customType,
  index,
  pgTable,
  primaryKey,
  text,
  uniqueIndex,
  type PgColumn,
  type PgTableWithColumns,
} from "drizzle-orm/pg-core";
import type { SchemaColumns } from "./columns";

const bytea = customType<{ data: Buffer; driverData: Buffer }>({ dataType: () => "bytea" });

const postgresColumnsUntyped = {
  table: pgTable,
  text,
  integer: (name: string) => bigint(name, { mode: "number" }),
  boolean: (name: string) => boolean(name),
  blob: (name: string) => bytea(name),
  autoIncrementId: (name: string) =>
    bigint(name, { mode: "number" }).primaryKey().generatedByDefaultAsIdentity(),
  index,
  uniqueIndex,
  primaryKey,
  rowOrder: (id: PgColumn) => [id],
};

/**
 * Typed as the SQLite helpers so the one definition type-checks; at run time every builder is
 * PostgreSQL's (tests/integration/postgres-schema.test.ts compares both instances column by column).
 */
export const postgresColumns = postgresColumnsUntyped as unknown as SchemaColumns;

type PgColumnOf<C extends Column> = PgColumn<
  Omit<C["_"], "dialect" | "brand"> & ColumnBaseConfig<ColumnDataType, string>
>;

/** The PostgreSQL table type with the same name, columns and row types as a SQLite table. */
export type PgTableOf<T extends Table> = PgTableWithColumns<{
  name: T["_"]["name"];
  schema: undefined;
  dialect: "pg";
  columns: { [K in keyof T["_"]["columns"]]: PgColumnOf<T["_"]["columns"][K]> };
}>;
