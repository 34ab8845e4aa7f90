import { is, SQL, getTableName, type InferInsertModel, type InferSelectModel, type Table } from "drizzle-orm";
import { PgDialect, getTableConfig as pgConfig, type PgTable } from "drizzle-orm/pg-core";
import { SQLiteSyncDialect, getTableConfig as sqliteConfig, type SQLiteTable } from "drizzle-orm/sqlite-core";
import { describe, expect, it } from "vitest";
import * as pgSchema from "../../app/db/schema-postgres";
import * as sqliteSchema from "../../app/db/schema";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type SameRows<K extends keyof typeof sqliteSchema & keyof typeof pgSchema> =
  Equal<InferSelectModel<(typeof pgSchema)[K]>, InferSelectModel<(typeof sqliteSchema)[K]>> extends true
    ? Equal<InferInsertModel<(typeof pgSchema)[K]>, InferInsertModel<(typeof sqliteSchema)[K]>>
    : false;
// Compile-time: every PostgreSQL table has the SQLite table's select and insert row types.
const sameRowTypes: { [K in keyof typeof sqliteSchema]: SameRows<K> } = {
  users: true,
  identities: true,
  invitations: true,
  sessions: true,
  shownOnceSecrets: true,
  signInThrottle: true,
  mcpServers: true,
  tools: true,
  openapiDrafts: true,
  oauthClients: true,
  authorizationRequests: true,
  grants: true,
  grantTools: true,
  authorizationCodes: true,
  tokenFamilies: true,
  accessTokens: true,
  refreshTokens: true,
  auditEvents: true,
  clientLogos: true,
  replayGuard: true,
};

type Config = ReturnType<typeof sqliteConfig> | ReturnType<typeof pgConfig>;
type AnyColumn = Config["columns"][number];

function jsType(column: AnyColumn): string {
  if (column.getSQLType() === "bytea" || column.columnType === "SQLiteBlobBuffer") return "Buffer";
  return column.dataType;
}

function describeTable(config: Config, render: (sql: SQL) => string, rowOrderIndexes: ReadonlySet<string>) {
  const name = (c: unknown) => (is(c, SQL) ? render(c) : (c as { name: string }).name);
  return {
    name: config.name,
    columns: config.columns.map((c) => ({
      name: c.name,
      jsType: jsType(c),
      notNull: c.notNull,
      primary: c.primary,
      hasDefault: c.hasDefault,
      default: is(c.default, SQL) ? render(c.default) : c.default,
      enumValues: c.enumValues,
      selfNumbered:
        ("autoIncrement" in c && c.autoIncrement === true) || c.generatedIdentity?.type === "byDefault",
    })),
    primaryKeys: config.primaryKeys.map((pk) => ({
      name: pk.getName(),
      columns: pk.columns.map((c) => c.name),
    })),
    indexes: config.indexes
      .map((index) => {
        const columns = index.config.columns.map(name);
        const indexName = index.config.name ?? "";
        // SQLite ends every index with the rowid; PostgreSQL spells the id out (columns.ts rowOrder).
        if (rowOrderIndexes.has(indexName)) columns.push("<row id>");
        return { name: indexName, unique: index.config.unique, columns };
      })
      .sort((a, b) => a.name.localeCompare(b.name)),
    foreignKeys: config.foreignKeys
      .map((fk) => {
        const ref = fk.reference();
        return {
          name: fk.getName(),
          columns: ref.columns.map((c) => c.name),
          foreignTable: getTableName(ref.foreignTable),
          foreignColumns: ref.foreignColumns.map((c) => c.name),
          onDelete: fk.onDelete ?? "no action",
          onUpdate: fk.onUpdate ?? "no action",
        };
      })
      .sort((a, b) => a.name.localeCompare(b.name)),
  };
}

const sqliteDialect = new SQLiteSyncDialect();
const pgDialect = new PgDialect();

describe("one schema, two dialects", () => {
  it("exports the same tables from both instances", () => {
    expect(Object.values(sameRowTypes).every(Boolean)).toBe(true);
    expect(Object.keys(pgSchema).sort()).toEqual(Object.keys(sqliteSchema).sort());
  });

  it.each(Object.keys(sqliteSchema))(
    "%s: same columns, JS types, nullability, defaults, keys, indexes",
    (key) => {
      const sqliteTable = (sqliteSchema as Record<string, Table>)[key] as SQLiteTable;
      const pgTable = (pgSchema as Record<string, Table>)[key] as PgTable;
      const sqlite = sqliteConfig(sqliteTable);
      const postgres = pgConfig(pgTable);

      // Indexes PostgreSQL orders by row id: the SQLite index's columns, then the table's id.
      const rowOrdered = new Set(
        postgres.indexes
          .filter((index) => {
            const last = index.config.columns.at(-1) as { name?: string } | undefined;
            const twin = sqlite.indexes.find((i) => i.config.name === index.config.name);
            return (
              last?.name === "id" && twin && twin.config.columns.length === index.config.columns.length - 1
            );
          })
          .map((index) => index.config.name ?? ""),
      );
      const pgDescribed = describeTable(postgres, (s) => pgDialect.sqlToQuery(s).sql, new Set());
      for (const index of pgDescribed.indexes) {
        if (rowOrdered.has(index.name)) index.columns[index.columns.length - 1] = "<row id>";
      }
      const sqliteDescribed = describeTable(sqlite, (s) => sqliteDialect.sqlToQuery(s).sql, rowOrdered);
      expect(pgDescribed).toEqual(sqliteDescribed);
      expect(sqliteDescribed.columns.length).toBeGreaterThan(0);
    },
  );

  it("orders only the Activity page's audit_events indexes by row id in PostgreSQL", () => {
    const ordered = pgConfig(pgSchema.auditEvents)
      .indexes.filter((i) => (i.config.columns.at(-1) as { name?: string }).name === "id")
      .map((i) => i.config.name)
      .sort();
    expect(ordered).toEqual([
      "audit_events_server_client_idx",
      "audit_events_server_idx",
      "audit_events_server_kind_idx",
    ]);
  });

  it("stores times as bigint, flags as boolean and bytes as bytea in PostgreSQL", () => {
    const types = (table: PgTable) =>
      Object.fromEntries(pgConfig(table).columns.map((c) => [c.name, c.getSQLType()]));
    expect(types(pgSchema.accessTokens)).toMatchObject({
      created_at: "bigint",
      expires_at: "bigint",
      token_hash: "text",
    });
    expect(types(pgSchema.mcpServers)).toMatchObject({ dpop_required: "boolean", tools_version: "bigint" });
    expect(types(pgSchema.clientLogos)).toMatchObject({ bytes: "bytea" });
    expect(types(pgSchema.auditEvents)).toMatchObject({ id: "bigint" });
  });
});
