/**
 * The schema's column helpers for PostgreSQL: the same functions as app/db/columns.ts, so
 * app/db/schema-definition.ts builds PostgreSQL tables from the same text. Whole numbers are
 * `bigint` read as JS numbers (epoch milliseconds exceed int4), booleans are `boolean`, bytes are
 * `bytea` read as a Buffer, a self-numbered id is a bigint identity column.
 */
import type { Column, ColumnBaseConfig, ColumnDataType, Table } from "drizzle-orm";
import type * as PgCore from "drizzle-orm/pg-core";
import type { PgColumn, PgTableWithColumns } from "drizzle-orm/pg-core";
import type { SchemaColumns } from "./columns";
import { defineSchema } from "./schema-definition";

/**
 * The helpers over `pgCore` (drizzle-orm/pg-core), which the caller passes: the app loads it only
 * when it runs on PostgreSQL (docs/decisions/057-start-up-cost.md).
 */
function postgresColumnsUntyped(pgCore: typeof PgCore) {
  const { bigint, boolean, customType, index, pgTable, primaryKey, text, uniqueIndex } = pgCore;
  const bytea = customType<{ data: Buffer; driverData: Buffer }>({ dataType: () => "bytea" });
  return {
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
}

/**
 * Typed as the SQLite helpers so the one definition type-checks; at run time every builder is
 * PostgreSQL's (tests/integration/postgres-schema.test.ts compares both instances column by column).
 */
export function postgresColumns(pgCore: typeof PgCore): SchemaColumns {
  return postgresColumnsUntyped(pgCore) as unknown as SchemaColumns;
}

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

type Tables = ReturnType<typeof defineSchema>;
/** The schema's PostgreSQL tables, typed with the same row types as the SQLite tables. */
export type PgTables = { [K in keyof Tables]: PgTableOf<Tables[K]> };

/** The schema's PostgreSQL instance, built over `pgCore`. */
export function postgresSchema(pgCore: typeof PgCore): PgTables {
  return defineSchema(postgresColumns(pgCore)) as unknown as PgTables;
}
