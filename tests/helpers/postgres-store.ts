/**
 * PostgreSQL test stores for the `postgres` Vitest project (TOOLGATE_TEST_STORE=postgres): a fresh
 * database per test context, copied from the run's migrated template (tests/setup/postgres-template.ts).
 */
import crypto from "node:crypto";
import * as nodePg from "drizzle-orm/node-postgres";
import * as migrator from "drizzle-orm/node-postgres/migrator";
import * as pgCore from "drizzle-orm/pg-core";
import pg from "pg";
import { inject } from "vitest";
import { preparePostgresModules } from "~/db/postgres-modules.server";
import { createPostgresStore } from "~/db/postgres-store.server";
import { parseDatabaseUrl, type PgDb } from "~/db/postgres.server";
import * as pgSchema from "~/db/schema-postgres";
import type { PostgresStore } from "~/db/store.server";
import { postgresAdminUrl, withAdminClient, withDatabase } from "./postgres";

/** Whether this run's test contexts are on PostgreSQL. */
export const onPostgres = process.env.TOOLGATE_TEST_STORE === "postgres";

/** Databases kept ready per test: a test that builds more contexts than this fails with a clear message. */
const READY = 3;
const ready: string[] = [];
const created: string[] = [];
const closing: Promise<unknown>[] = [];

/** Tops up the ready databases (copies of the template). */
export async function preparePostgresTestDatabases(): Promise<void> {
  const missing = READY - ready.length;
  if (missing <= 0) return;
  const template = inject("postgresTemplateDb");
  const names = Array.from({ length: missing }, () => `tg_${crypto.randomBytes(6).toString("hex")}`);
  await withAdminClient(async (client) => {
    for (const name of names) await client.query(`create database ${name} template ${template}`);
  });
  created.push(...names);
  ready.push(...names);
}

/** A store on a fresh migrated database; synchronous because createTestContext is. */
export function takePostgresTestStore(): { store: PostgresStore; url: string } {
  const url = takePostgresTestDatabase();
  return { store: postgresStoreOn(url), url };
}

/** The URL of a fresh migrated database (dropped after the file), for a process the test starts. */
export function takePostgresTestDatabase(): string {
  const name = ready.shift();
  if (!name) throw new Error(`more than ${READY} PostgreSQL test contexts in one test: raise READY in tests/helpers/postgres-store.ts`);
  return withDatabase(postgresAdminUrl(), name);
}

// The modules the app loads on first use, here imported by the helper (its stores are made synchronously).
const modules = preparePostgresModules({ pg, nodePg, migrator, pgCore, schema: pgSchema });

/** A store with its own pool on an existing, migrated database (synchronous: no connection yet). */
export function postgresStoreOn(url: string): PostgresStore {
  const pool = new pg.Pool({ connectionString: url, max: 5 });
  pool.on("error", () => {});
  const db = nodePg.drizzle(pool, { schema: pgSchema }) as PgDb;
  return createPostgresStore({ db, pool, target: parseDatabaseUrl(url), modules, close: () => pool.end() });
}

/** Closes a test store without waiting (cleanup() is synchronous); the file's afterAll waits. */
export function releasePostgresTestStore(store: PostgresStore): void {
  closing.push(store.close().catch(() => {}));
}

export async function dropPostgresTestDatabases(): Promise<void> {
  await Promise.all(closing.splice(0));
  const names = created.splice(0);
  ready.length = 0;
  if (names.length === 0) return;
  await withAdminClient(async (client) => {
    for (const name of names) await client.query(`drop database if exists ${name} with (force)`);
  });
}
