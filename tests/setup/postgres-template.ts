import crypto from "node:crypto";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { openPostgres } from "../../app/db/postgres.server";
import { POSTGRES_URL_VARIABLE } from "../helpers/postgres-global-setup";

declare module "vitest" {
  export interface ProvidedContext {
    /** A migrated PostgreSQL database that the `postgres` project's test contexts are created from. */
    postgresTemplateDb: string;
  }
}

/**
 * For the integration suite on PostgreSQL: one database migrated once per run; each test context
 * gets a copy (`create database … template`), as SQLite tests copy a migrated file.
 * Runs after tests/helpers/postgres-global-setup.ts, which names the cluster's URL.
 */
export default async function setup(project: TestProject) {
  const admin = process.env[POSTGRES_URL_VARIABLE];
  if (!admin) throw new Error(`${POSTGRES_URL_VARIABLE} is not set: the PostgreSQL cluster did not start`);
  const name = `tg_template_${crypto.randomBytes(4).toString("hex")}`;
  await withAdmin(admin, (client) => client.query(`create database ${name}`));
  const handle = await openPostgres({ url: databaseUrl(admin, name), connectTimeoutS: 60, poolSize: 1 });
  await handle.close();
  project.provide("postgresTemplateDb", name);
  return async () => {
    await withAdmin(admin, (client) => client.query(`drop database if exists ${name} with (force)`)).catch(() => {});
  };
}

/** One connection to the cluster's `postgres` database, waiting (up to a minute) for it to accept. */
async function withAdmin<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const client = new pg.Client({ connectionString: url });
    client.on("error", () => {});
    try {
      await client.connect();
    } catch (error) {
      await client.end().catch(() => {});
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
      continue;
    }
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  }
}

function databaseUrl(admin: string, database: string): string {
  const url = new URL(admin);
  url.pathname = `/${database}`;
  return url.href;
}
