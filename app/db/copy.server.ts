/**
 * `toolgate db copy`: moves an SQLite installation (its data folder's toolgate.db, running or
 * stopped) into an empty PostgreSQL database at the same schema version.
 *
 * - The source is read in one SQLite read transaction (WAL: a running server goes on writing; the
 *   copy sees one moment), table by table in rowid order, one page at a time (bounded memory).
 * - Every row goes into PostgreSQL inside one transaction, tables in foreign-key order, values
 *   converted by the column definitions of both schema instances (Drizzle maps SQLite's integer
 *   booleans, blobs and integers to boolean, bytea and bigint). Any failure rolls everything back,
 *   so the target stays empty; the row counts are checked before COMMIT.
 * - Secrets (secrets.json) are not in the database and are not copied: token and secret hashes are
 *   unkeyed SHA-256, so they verify anywhere, but encrypted columns need the same data key.
 */
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { getTableColumns, getTableName, sql, type Table } from "drizzle-orm";
import { drizzle as drizzleSqlite } from "drizzle-orm/better-sqlite3";
import { readMigrationFiles } from "drizzle-orm/migrator";
import type { PgTable } from "drizzle-orm/pg-core";
import type { SQLiteTable } from "drizzle-orm/sqlite-core";
import { DATABASE_FILE } from "~/context.server";
import { findMigrationsFolder } from "./client.server";
import {
  DatabaseStartError,
  DATABASE_URL_VARIABLE,
  findPostgresMigrationsFolder,
  openPostgres,
  parseDatabaseUrl,
  type PgDb,
  type PostgresTarget,
} from "./postgres.server";
import * as sqliteSchema from "./schema";
import type { PgTables } from "./columns-postgres";
import type { PostgresModules } from "./postgres-modules.server";

/** The copy cannot be made as asked (wrong source version, non-empty target...): nothing was written. */
export class CopyRefusedError extends Error {
  override name = "CopyRefusedError";
}

/** The copy started and failed; the PostgreSQL transaction was rolled back, the target holds no rows. */
export class CopyFailedError extends Error {
  override name = "CopyFailedError";
}

export type CopyProgress =
  | { kind: "snapshot"; rows: number }
  | { kind: "table"; table: string; rows: number };

export type CopyOptions = {
  /** The data folder holding toolgate.db (TOOLGATE_DATA_DIR). */
  dataDir: string;
  /** The target database: a postgres:// URL. */
  to: string;
  /** How long to wait for an unreachable target (seconds; default 10). */
  connectTimeoutS?: number;
  /** SQLite migrations this build ships (found next to the package when omitted). */
  migrationsFolder?: string;
  /** PostgreSQL migrations this build ships (found next to the package when omitted). */
  postgresMigrationsFolder?: string;
  /** Rows read and inserted per page (tables with blob columns use smaller pages). */
  pageRows?: number;
  /**
   * Called once the snapshot is taken and after each table is copied; awaited, so the copy waits
   * for it (the CLI reports progress with it, tests write to the source at those moments).
   */
  onProgress?: (event: CopyProgress) => void | Promise<void>;
};

export type CopyResult = {
  source: string;
  /** The target URL with its password replaced. */
  target: string;
  /** The last migration of this build, which both databases are at. */
  schemaVersion: string;
  /** Rows per table, counted in the snapshot and again in PostgreSQL before COMMIT. */
  tables: { table: string; rows: number }[];
  totalRows: number;
  /** The secrets file of the source installation, which every replica needs (not copied). */
  secretsFile: string;
  secretsFileFound: boolean;
  elapsedMs: number;
};

const DEFAULT_PAGE_ROWS = 500;
/** Client logos are at most 256 KiB: 16 per page keeps a page of them to a few MiB. */
const BLOB_PAGE_ROWS = 16;

type TableName = keyof PgTables;
type Row = Record<string, unknown>;

/**
 * Columns the database maintains by triggers on other tables (mcp_servers.tools_version is bumped
 * by every insert into tools and grant_tools): restored from the source after all rows are in.
 */
const TRIGGER_MAINTAINED: Partial<Record<TableName, string[]>> = { mcpServers: ["toolsVersion"] };

/** Copies `dataDir/toolgate.db` into the empty PostgreSQL database at `to`. */
export async function copySqliteToPostgres(options: CopyOptions): Promise<CopyResult> {
  const started = Date.now();
  const target = parseTarget(options.to);
  const file = path.join(path.resolve(options.dataDir), DATABASE_FILE);
  if (!fs.existsSync(file)) throw new CopyRefusedError(`There is no Toolgate database at ${file} (check --data-dir)`);
  const shipped = shippedSqliteMigrations(options.migrationsFolder ?? findMigrationsFolder());
  const secretsFile = path.join(path.dirname(file), "secrets.json");

  const source = new Database(file, { fileMustExist: true, nativeBinding: process.env.TOOLGATE_SQLITE_BINDING });
  try {
    source.pragma("busy_timeout = 5000");
    // What the app sets at every start; a file restored from a backup may be in rollback mode, where
    // the read transaction below would hold off writers.
    if (String(source.pragma("journal_mode", { simple: true })).toLowerCase() !== "wal") source.pragma("journal_mode = WAL");
    checkSourceVersion(source, shipped);

    const pgMigrations = options.postgresMigrationsFolder ?? findPostgresMigrationsFolder();
    const handle = await openTarget(options, target, pgMigrations);
    try {
      await checkTargetVersion(handle.db, pgMigrations);
      const tables = await copyInOneTransaction(source, handle.db, handle.modules, options);
      const totalRows = tables.reduce((sum, t) => sum + t.rows, 0);
      return {
        source: file,
        target: target.redacted,
        schemaVersion: shipped.at(-1)!.tag,
        tables,
        totalRows,
        secretsFile,
        secretsFileFound: fs.existsSync(secretsFile),
        elapsedMs: Date.now() - started,
      };
    } finally {
      await handle.close();
    }
  } finally {
    source.close();
  }
}

/** The URL as the app reads TOOLGATE_DATABASE_URL, with messages that name --to instead. */
export function parseTarget(url: string): PostgresTarget {
  try {
    return parseDatabaseUrl(url);
  } catch (error) {
    throw error instanceof DatabaseStartError ? new CopyRefusedError(renameVariable(error.message)) : error;
  }
}

function renameVariable(message: string): string {
  return message.startsWith(`${DATABASE_URL_VARIABLE}:`) ? `--to${message.slice(DATABASE_URL_VARIABLE.length)}` : message;
}

async function openTarget(options: CopyOptions, target: PostgresTarget, migrationsFolder: string) {
  try {
    // Applies this build's migrations first (under the advisory lock), as a replica's start would.
    return await openPostgres({
      url: options.to,
      poolSize: 2,
      connectTimeoutS: options.connectTimeoutS,
      migrationsFolder,
    });
  } catch (error) {
    if (error instanceof DatabaseStartError) throw new CopyRefusedError(renameVariable(error.message));
    throw new CopyRefusedError(`--to: cannot open ${target.redacted}: ${(error as Error).message}`);
  }
}

type ShippedMigration = { tag: string; createdAt: number; hash: string };

function shippedSqliteMigrations(folder: string): ShippedMigration[] {
  const journal = JSON.parse(fs.readFileSync(path.join(folder, "meta", "_journal.json"), "utf8")) as {
    entries: { tag: string; when: number }[];
  };
  const files = readMigrationFiles({ migrationsFolder: folder });
  return journal.entries.map((entry, i) => ({ tag: entry.tag, createdAt: entry.when, hash: files[i]!.hash }));
}

/**
 * The source must have exactly this build's migrations applied: an older database is upgraded by
 * starting this version on it once (never by the copy, which may run beside an older server).
 */
function checkSourceVersion(source: Database.Database, shipped: ShippedMigration[]): void {
  const hasTable = source
    .prepare("select 1 from sqlite_master where type = 'table' and name = '__drizzle_migrations'")
    .get();
  if (!hasTable) throw new CopyRefusedError(`${source.name} is not a Toolgate database (it has no migrations table)`);
  const applied = source.prepare("select hash, created_at as createdAt from __drizzle_migrations").all() as {
    hash: string;
    createdAt: number | string;
  }[];
  const known = new Map(shipped.map((m) => [m.createdAt, m]));
  const unknown = applied.filter((a) => known.get(Number(a.createdAt))?.hash !== a.hash);
  if (unknown.length > 0) {
    throw new CopyRefusedError(
      `${source.name} has ${unknown.length} migration(s) this version of Toolgate does not ship: it was written by a newer ` +
        "(or a different) version. Copy it with that version of Toolgate.",
    );
  }
  const missing = shipped.filter((m) => !applied.some((a) => Number(a.createdAt) === m.createdAt));
  if (missing.length > 0) {
    throw new CopyRefusedError(
      `${source.name} is at an older schema version (${missing.length} migration(s) missing, from ${missing[0]!.tag}). ` +
        "Upgrade it first: start this version of Toolgate on it once (toolgate serve applies the migrations), " +
        "then run the copy again.",
    );
  }
}

/** The target must not be at a newer version than this build (migrations run forward only). */
async function checkTargetVersion(db: PgDb, migrationsFolder: string): Promise<void> {
  const shipped = readMigrationFiles({ migrationsFolder });
  const newest = Math.max(...shipped.map((m) => m.folderMillis));
  const { rows } = await db.$client.query<{ newer: number }>(
    "select count(*) as newer from drizzle.__drizzle_migrations where created_at > $1",
    [newest],
  );
  if (Number(rows[0]?.newer ?? 0) > 0) {
    throw new CopyRefusedError("The target database was migrated by a newer version of Toolgate; copy with that version");
  }
}

type TablePair = { key: TableName; name: string; sqlite: SQLiteTable; pg: PgTable };

/** Every table of the schema, parents before children (foreign keys); `modules` of the PostgreSQL handle. */
export function tablesInDependencyOrder(modules: PostgresModules): TablePair[] {
  const { schema: pgSchema, pgCore } = modules;
  const pairs = new Map<string, TablePair>();
  for (const key of Object.keys(pgSchema) as TableName[]) {
    const pg = pgSchema[key] as unknown as PgTable;
    const sqlite = sqliteSchema[key] as unknown as SQLiteTable;
    pairs.set(getTableName(pg), { key, name: getTableName(pg), sqlite, pg });
  }
  const ordered: TablePair[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (name: string, chain: string[]) => {
    if (state.get(name) === "done") return;
    if (state.get(name) === "visiting") throw new Error(`foreign keys form a cycle: ${[...chain, name].join(" -> ")}`);
    state.set(name, "visiting");
    const pair = pairs.get(name)!;
    for (const fk of pgCore.getTableConfig(pair.pg).foreignKeys) {
      const parent = getTableName(fk.reference().foreignTable);
      if (parent !== name) visit(parent, [...chain, name]);
    }
    state.set(name, "done");
    ordered.push(pair);
  };
  for (const name of [...pairs.keys()].sort()) visit(name, []);
  return ordered;
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

async function copyInOneTransaction(
  source: Database.Database,
  target: PgDb,
  modules: PostgresModules,
  options: CopyOptions,
): Promise<{ table: string; rows: number }[]> {
  const tables = tablesInDependencyOrder(modules);
  const sqliteDb = drizzleSqlite(source);
  const pageRows = options.pageRows ?? DEFAULT_PAGE_ROWS;

  return target.transaction(async (tx) => {
    // No one writes the target while it is checked and filled (reads go on).
    await tx.execute(sql.raw(`lock table ${tables.map((t) => quote(t.name)).join(", ")} in exclusive mode`));
    const occupied: string[] = [];
    for (const t of tables) {
      const { rows } = await tx.execute(sql.raw(`select exists (select 1 from ${quote(t.name)}) as occupied`));
      if (rows[0]?.occupied) occupied.push(t.name);
    }
    if (occupied.length > 0) {
      throw new CopyRefusedError(
        `The target database is not empty (rows in ${occupied.join(", ")}); the copy goes into an empty database only. ` +
          "Nothing was written.",
      );
    }

    // One read transaction: every SELECT below sees the moment of the first one.
    source.exec("begin");
    try {
      const counts = new Map<string, number>();
      for (const t of tables) {
        const row = source.prepare(`select count(*) as n from ${quote(t.name)}`).get() as { n: number };
        counts.set(t.name, row.n);
      }
      await options.onProgress?.({ kind: "snapshot", rows: [...counts.values()].reduce((a, b) => a + b, 0) });

      for (const t of tables) {
        const columns = getTableColumns(t.sqlite as Table);
        const hasBlob = Object.values(columns).some((c) => c.columnType === "SQLiteBlobBuffer");
        const limit = hasBlob ? Math.min(pageRows, BLOB_PAGE_ROWS) : pageRows;
        let copied = 0;
        for await (const page of pagesOf(sqliteDb, t.sqlite, limit)) {
          try {
            await tx.insert(t.pg).values(page);
          } catch (error) {
            throw new CopyFailedError(`copying ${t.name} failed and was rolled back, the target holds no rows: ${databaseReason(error)}`);
          }
          copied += page.length;
        }
        if (copied !== counts.get(t.name)) {
          throw new CopyFailedError(`${t.name}: read ${copied} rows, the snapshot counted ${counts.get(t.name)}`);
        }
        await options.onProgress?.({ kind: "table", table: t.name, rows: copied });
      }
      await restoreDerivedState(source, sqliteDb, tx as unknown as PgDb, tables, pageRows);

      // Checked in PostgreSQL before COMMIT: a mismatch rolls the whole copy back.
      const report: { table: string; rows: number }[] = [];
      for (const t of tables) {
        const { rows } = await tx.execute(sql.raw(`select count(*) as n from ${quote(t.name)}`));
        const n = Number(rows[0]?.n);
        if (n !== counts.get(t.name)) {
          throw new CopyFailedError(`${t.name}: PostgreSQL holds ${n} rows after the copy, the source ${counts.get(t.name)}`);
        }
        report.push({ table: t.name, rows: n });
      }
      return report;
    } finally {
      source.exec("rollback");
    }
  });
}

/** The rows of one table in rowid order, `limit` at a time (keyset pagination inside the snapshot). */
async function* pagesOf(
  db: ReturnType<typeof drizzleSqlite>,
  table: SQLiteTable,
  limit: number,
): AsyncGenerator<Row[]> {
  const columns = getTableColumns(table as Table);
  let after = Number.MIN_SAFE_INTEGER;
  for (;;) {
    const rows = db
      .select({ ...columns, __rowid: sql<number>`rowid` })
      .from(table)
      .where(sql`rowid > ${after}`)
      .orderBy(sql`rowid`)
      .limit(limit)
      .all() as Row[];
    if (rows.length === 0) return;
    after = rows.at(-1)!.__rowid as number;
    yield rows.map(({ __rowid: _rowid, ...row }) => row);
    if (rows.length < limit) return;
  }
}

/**
 * After every row is in: trigger-maintained columns get their source values back (the triggers
 * fired while the child tables were filled), and identity columns (audit_events.id) continue after
 * the highest id the source ever issued.
 */
async function restoreDerivedState(
  source: Database.Database,
  sqliteDb: ReturnType<typeof drizzleSqlite>,
  tx: PgDb,
  tables: TablePair[],
  limit: number,
): Promise<void> {
  for (const t of tables) {
    const keys = TRIGGER_MAINTAINED[t.key];
    if (!keys) continue;
    const pgColumns = getTableColumns(t.pg as Table);
    const pkKey = Object.keys(pgColumns).find((k) => pgColumns[k]!.primary);
    if (!pkKey) throw new Error(`${t.name} has no single-column primary key`);
    const pk = pgColumns[pkKey]!;
    for await (const page of pagesOf(sqliteDb, t.sqlite, limit)) {
      for (const key of keys) {
        await tx.execute(sql`
          update ${t.pg} as m set ${sql.identifier(pgColumns[key]!.name)} = v.value
            from unnest(${sql.param(page.map((r) => r[pkKey]))}::text[], ${sql.param(page.map((r) => r[key]))}::bigint[]) as v(id, value)
           where m.${sql.identifier(pk.name)} = v.id`);
      }
    }
  }

  const { rows: identities } = await tx.execute<{ table_name: string; column_name: string }>(sql`
    select table_name, column_name from information_schema.columns
     where table_schema = current_schema() and (is_identity = 'YES' or column_default like 'nextval(%')`);
  const names = new Set(tables.map((t) => t.name));
  const hasSequenceTable = source.prepare("select 1 from sqlite_master where name = 'sqlite_sequence'").get();
  for (const { table_name: table, column_name: column } of identities) {
    if (!names.has(table)) continue;
    // SQLite's AUTOINCREMENT never reuses an id, even of a deleted row: neither will PostgreSQL.
    const issued = hasSequenceTable
      ? Number((source.prepare("select seq from sqlite_sequence where name = ?").get(table) as { seq?: number } | undefined)?.seq ?? 0)
      : 0;
    await tx.execute(sql`
      select setval(pg_get_serial_sequence(${quote(table)}, ${column}),
                    greatest(coalesce(max(${sql.identifier(column)}), 0), ${issued}) + 1, false)
        from ${sql.identifier(table)}`);
  }
}

/** The database's own words (Drizzle's wrapper message repeats the query and its parameters). */
function databaseReason(error: unknown): string {
  const cause = (error as { cause?: unknown }).cause ?? error;
  const e = cause as { message?: string; detail?: string };
  // "Failing row contains (...)" would print a row's values; a key's detail names what is missing.
  const detail = e.detail && !e.detail.startsWith("Failing row") ? e.detail : undefined;
  return [e.message ?? String(cause), detail].filter(Boolean).join(": ");
}
