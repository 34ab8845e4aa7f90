/**
 * Whether a database's schema is one this version of Toolgate knows (docs/decisions/017). Drizzle's
 * migrators compare only the newest recorded migration with the shipped ones and skip everything
 * older, so on a database migrated by a newer Toolgate they apply nothing and report success; the
 * older code would then run on a schema it does not know (columns it never fills, constraints it
 * does not expect). Both stores check first and refuse to start.
 */
import fs from "node:fs";
import path from "node:path";
import { DatabaseStartError } from "./errors.server";

const shipped = new Map<string, number[]>();

/**
 * The migrations shipped in a drizzle-kit folder, as drizzle records them (`created_at` is the
 * journal entry's `when`), read once per folder from its journal: the SQL files themselves are
 * read by the migrator only.
 */
export function shippedMigrationTimes(migrationsFolder: string): number[] {
  let times = shipped.get(migrationsFolder);
  if (!times) {
    const journal = JSON.parse(
      fs.readFileSync(path.join(migrationsFolder, "meta", "_journal.json"), "utf8"),
    ) as { entries: { when: number }[] };
    times = journal.entries.map((entry) => entry.when);
    shipped.set(migrationsFolder, times);
  }
  return times;
}

/**
 * Throws when `applied` (the `created_at` values of drizzle's migrations table) holds a migration
 * newer than every one this version ships. `where` names the database for the operator.
 */
export function refuseNewerSchema(
  where: string,
  applied: readonly (number | string)[],
  shipped: readonly number[],
): void {
  const newest = Math.max(...shipped);
  const newer = applied.map(Number).filter((at) => at > newest);
  if (newer.length === 0) return;
  throw new DatabaseStartError(
    `${where} was upgraded by a newer version of Toolgate: it has ${newer.length} schema migration(s) this version ` +
      "does not know, so this version will not start on it (it could misread or damage data it does not understand). " +
      "Run the newer version again, or restore the backup taken before the upgrade. (To roll back a rolling upgrade " +
      "whose migrations only add tables or columns, TOOLGATE_ALLOW_NEWER_SCHEMA=true starts this version anyway.)",
  );
}
