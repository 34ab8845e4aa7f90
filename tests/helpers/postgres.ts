import crypto from "node:crypto";
import fs from "node:fs";
import pg from "pg";
import { inject } from "vitest";

/** The superuser URL of the test run's cluster (tests/helpers/postgres-global-setup.ts). */
export function postgresAdminUrl(): string {
  return inject("postgresUrl") ?? process.env.TOOLGATE_TEST_POSTGRES_URL;
}

/** A URL like `base` for another database (or user and password). */
export function withDatabase(
  base: string,
  database: string,
  credentials?: { user: string; password: string },
): string {
  const url = new URL(base);
  url.pathname = `/${database}`;
  if (credentials) {
    url.username = encodeURIComponent(credentials.user);
    url.password = encodeURIComponent(credentials.password);
  }
  return url.href;
}

/** Runs `fn` on one connection to the cluster's `postgres` database, waiting for the cluster to be up. */
export async function withAdminClient<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const failureFile = inject("postgresFailureFile");
  const deadline = Date.now() + 60_000;
  for (;;) {
    const client = new pg.Client({ connectionString: postgresAdminUrl() });
    client.on("error", () => {});
    try {
      await client.connect();
    } catch (error) {
      await client.end().catch(() => {});
      if (failureFile && fs.existsSync(failureFile)) throw new Error(fs.readFileSync(failureFile, "utf8"));
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

/**
 * Creates a fresh, empty database (`tg_<random>`) on the test run's cluster and returns its URL:
 * one per test file (or per test) keeps tests independent without a cluster each.
 */
export async function createTestDatabase(): Promise<string> {
  const name = `tg_${crypto.randomBytes(6).toString("hex")}`;
  await withAdminClient((client) => client.query(`create database ${name}`));
  return withDatabase(postgresAdminUrl(), name);
}
