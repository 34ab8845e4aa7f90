import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { drizzle, type BetterSQLite3Database } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import * as schema from "./schema";
import { refuseNewerSchema, shippedMigrationTimes } from "./schema-version.server";
import { createSqliteStore } from "./sqlite-store.server";
import type { SqliteStore } from "./store.server";

export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

/** Pages in the WAL after which a commit checkpoints it (SQLite's default is 1,000). */
export const WAL_AUTOCHECKPOINT_PAGES = 4000;

export type OpenOptions = {
  /** Folder holding drizzle-kit's migrations; found next to the package when omitted. */
  migrationsFolder?: string;
  /** Extra options for better-sqlite3 (the single executable passes `nativeBinding`). */
  nativeBinding?: string;
  readonly?: boolean;
  /** Start even when a newer Toolgate migrated the file (TOOLGATE_ALLOW_NEWER_SCHEMA). */
  allowNewerSchema?: boolean;
};

/**
 * Opens (creating if needed) the SQLite file, sets the pragmas every connection needs and applies
 * pending migrations. Migrations only go forward; drizzle runs them inside one transaction. A file
 * migrated by a newer Toolgate is refused (DatabaseStartError) unless `allowNewerSchema`.
 */
export function openDatabase(file: string, options: OpenOptions = {}): Db {
  if (file !== ":memory:") fs.mkdirSync(path.dirname(file), { recursive: true });
  const sqlite = new Database(file, {
    nativeBinding: options.nativeBinding ?? process.env.TOOLGATE_SQLITE_BINDING,
    readonly: options.readonly ?? false,
  });
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("synchronous = NORMAL");
  // Checkpoint once the WAL holds 4,000 pages (16 MiB) rather than SQLite's 1,000: a refresh writes
  // ~17 pages, so the checkpoint (run inside whichever commit crosses the mark, with two fsyncs)
  // came every ~60 refreshes; hot pages written many times in between are copied back once
  // (docs/decisions/022-wal-checkpoint-threshold.md).
  sqlite.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
  sqlite.pragma("foreign_keys = ON");
  sqlite.pragma("busy_timeout = 5000");
  const db = drizzle(sqlite, { schema }) as Db;
  const migrationsFolder = options.migrationsFolder ?? findMigrationsFolder();
  try {
    if (!options.allowNewerSchema) refuseNewerSchema(`The database ${file}`, appliedMigrationTimes(sqlite), shippedMigrationTimes(migrationsFolder));
    if (!options.readonly) migrate(db, { migrationsFolder });
  } catch (error) {
    sqlite.close();
    throw error;
  }
  return db;
}

/** The `created_at` of every migration drizzle recorded in the file (none in a new file). */
function appliedMigrationTimes(sqlite: Database.Database): number[] {
  const recorded = sqlite.prepare("select 1 from sqlite_master where type = 'table' and name = '__drizzle_migrations'").get();
  if (!recorded) return [];
  return (sqlite.prepare("select created_at as createdAt from __drizzle_migrations").all() as { createdAt: number | string }[]).map((r) =>
    Number(r.createdAt),
  );
}

/** Opens the SQLite file as openDatabase does and returns the store on it. */
export function openStore(file: string, options: OpenOptions = {}): SqliteStore {
  return createSqliteStore(openDatabase(file, options).$client);
}

/** Walks up from this module (or the bundle) to the folder that holds drizzle/meta/_journal.json. */
export function findMigrationsFolder(): string {
  if (process.env.TOOLGATE_MIGRATIONS_DIR) return path.resolve(process.env.TOOLGATE_MIGRATIONS_DIR);
  const starts = [path.dirname(fileURLToPath(import.meta.url)), process.cwd()];
  for (const start of starts) {
    let dir = start;
    for (;;) {
      const candidate = path.join(dir, "drizzle");
      if (fs.existsSync(path.join(candidate, "meta", "_journal.json"))) return candidate;
      const parent = path.dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  throw new Error("Could not find the drizzle/ migrations folder; set TOOLGATE_MIGRATIONS_DIR");
}
