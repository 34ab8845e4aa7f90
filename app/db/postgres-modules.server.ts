/**
 * What PostgreSQL needs of node_modules: the `pg` driver, Drizzle's node-postgres driver, migrator
 * and pg-core, and the schema's PostgreSQL instance built over pg-core. They are loaded on first use
 * (`loadPostgresModules`), never at start: an installation on the embedded SQLite file (the
 * default) never loads them, which saves about a sixth of the start-up time and 11 MiB of memory
 * (docs/decisions/057-start-up-cost.md). Nothing outside app/db/ imports them at run time.
 */
import type * as NodePg from "drizzle-orm/node-postgres";
import type * as Migrator from "drizzle-orm/node-postgres/migrator";
import type * as PgCore from "drizzle-orm/pg-core";
import type Pg from "pg";
import { postgresSchema, type PgTables } from "./columns-postgres";
import { throwDriverErrors } from "./errors.server";

export type PostgresModules = {
  pg: typeof Pg;
  nodePg: typeof NodePg;
  migrator: typeof Migrator;
  pgCore: typeof PgCore;
  schema: PgTables;
};

let loading: Promise<PostgresModules> | undefined;

/** The modules, loaded once and prepared (preparePostgresModules). */
export function loadPostgresModules(): Promise<PostgresModules> {
  loading ??= Promise.all([
    import("pg"),
    import("drizzle-orm/node-postgres"),
    import("drizzle-orm/node-postgres/migrator"),
    import("drizzle-orm/pg-core"),
  ]).then(([pg, nodePg, migrator, pgCore]) =>
    preparePostgresModules({ pg: pg.default, nodePg, migrator, pgCore, schema: postgresSchema(pgCore) }),
  );
  return loading;
}

const prepared = new WeakSet<object>();

/**
 * Sets up the modules once (idempotent; the test suite passes modules it imported itself):
 * - int8 (bigint, count(*), sum()) read as JS numbers: every such value here is an
 *   epoch-millisecond time or a count, far below 2^53. Drizzle's node-postgres driver falls back to
 *   pg's global parsers.
 * - As on SQLite: a failed statement throws PostgreSQL's own error (SQLSTATE, constraint), not
 *   Drizzle's "Failed query" wrapper with its values (errors.server.ts `throwDriverErrors`).
 */
export function preparePostgresModules(modules: PostgresModules): PostgresModules {
  if (prepared.has(modules.nodePg.NodePgPreparedQuery)) return modules;
  prepared.add(modules.nodePg.NodePgPreparedQuery);
  modules.pg.types.setTypeParser(modules.pg.types.builtins.INT8, (value: string) => Number(value));
  throwDriverErrors(modules.nodePg.NodePgPreparedQuery.prototype);
  return modules;
}
