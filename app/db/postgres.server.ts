/**
 * PostgreSQL: reading TOOLGATE_DATABASE_URL, the connection pool, and migrations at start under an
 * advisory lock (docs/decisions/052-one-schema-two-dialects.md, 053-postgres-driver.md).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { ConnectionOptions } from "node:tls";
import { fileURLToPath } from "node:url";
import type { NodePgDatabase } from "drizzle-orm/node-postgres";
import type pg from "pg";
import type { PgTables } from "./columns-postgres";
import { loadPostgresModules, type PostgresModules } from "./postgres-modules.server";
import { DatabaseStartError } from "./errors.server";
import { refuseNewerSchema, shippedMigrationTimes } from "./schema-version.server";

export type PgSchema = PgTables;
export type PgDb = NodePgDatabase<PgSchema> & { $client: pg.Pool };
/** The transaction handle `db.transaction(async (tx) => …)` passes. */
export type PgTx = Parameters<Parameters<PgDb["transaction"]>[0]>[0];

export const DATABASE_URL_VARIABLE = "TOOLGATE_DATABASE_URL";
/**
 * Ten connections per replica: enough for a Node process (one thread; a connection is held only
 * while a query or transaction is in flight), and ten replicas still fit PostgreSQL's default
 * max_connections of 100.
 */
export const DEFAULT_POOL_SIZE = 10;
/** How long the start retries an unreachable database by default. */
export const DEFAULT_CONNECT_TIMEOUT_S = 10;
/** Key of the advisory lock that serializes migrations across replicas ("toolgate" in ASCII). */
export const MIGRATION_LOCK_KEY = 0x746f6f6c67617465n;

export { DatabaseStartError };

export type SslMode = "disable" | "allow" | "prefer" | "require" | "verify-ca" | "verify-full";

export type PostgresTarget = {
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
  sslmode: SslMode;
  /** What node-postgres receives: false for a plain connection. */
  ssl: false | ConnectionOptions;
  applicationName: string | undefined;
  /** The URL with the password replaced, for messages. */
  redacted: string;
};

const SSL_MODES: readonly SslMode[] = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"];
const KNOWN_PARAMETERS = new Set(["sslmode", "sslrootcert", "sslcert", "sslkey", "application_name"]);

function fail(reason: string): never {
  throw new DatabaseStartError(`${DATABASE_URL_VARIABLE}: ${reason}`);
}

/**
 * Reads a `postgres://` or `postgresql://` URL as libpq does. TLS follows `sslmode`: `disable` never
 * encrypts; `prefer` (the default when absent) and `allow` do not require TLS and negotiate at
 * connect time (openPostgres), so `ssl` is false for them here; `require` encrypts without checking
 * the certificate; `verify-ca` checks the chain against `sslrootcert` (or the system's CAs);
 * `verify-full` checks the chain and the host name. `readFile` is for tests.
 */
export function parseDatabaseUrl(
  value: string,
  readFile: (file: string) => string | Buffer = (file) => fs.readFileSync(file),
): PostgresTarget {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    fail("not a URL; expected postgres://user:password@host:5432/database");
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    fail(`the scheme must be postgres:// or postgresql://, not ${url.protocol}//`);
  }
  const password = url.password ? decode(url.password, "password") : undefined;
  const redactedUrl = new URL(url.href);
  if (redactedUrl.password) redactedUrl.password = "***";
  const redacted = redactedUrl.href;

  for (const key of url.searchParams.keys()) {
    if (!KNOWN_PARAMETERS.has(key)) fail(`unknown parameter "${key}" in ${redacted}`);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1") || "localhost";
  const port = url.port ? Number(url.port) : 5432;
  const user = url.username ? decode(url.username, "user name") : os.userInfo().username;
  const pathname = url.pathname.replace(/^\//, "");
  if (pathname.includes("/")) fail(`the path must be one database name, not "${pathname}"`);
  const database = pathname ? decode(pathname, "database name") : user;

  const mode = url.searchParams.get("sslmode") ?? "prefer";
  if (!SSL_MODES.includes(mode as SslMode)) {
    fail(`sslmode must be one of ${SSL_MODES.join(", ")}, not "${mode}"`);
  }
  const sslmode = mode as SslMode;
  const read = (param: string) => {
    const file = url.searchParams.get(param);
    if (!file) return undefined;
    try {
      return readFile(file);
    } catch (error) {
      fail(`cannot read ${param} ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
  };
  let ssl: PostgresTarget["ssl"] = false;
  if (sslmode === "require" || sslmode === "verify-ca" || sslmode === "verify-full") {
    const verify = sslmode !== "require";
    const rootcert = url.searchParams.get("sslrootcert");
    ssl = {
      rejectUnauthorized: verify,
      // libpq's sslrootcert=system means the system's CAs, which is also Node's default.
      ca: verify && rootcert && rootcert !== "system" ? read("sslrootcert") : undefined,
      cert: read("sslcert"),
      key: read("sslkey"),
      servername: isIpAddress(host) ? undefined : host,
      // verify-ca checks the chain only, as libpq does.
      ...(sslmode === "verify-ca" ? { checkServerIdentity: () => undefined } : {}),
    };
  }
  return {
    host,
    port,
    user,
    password,
    database,
    sslmode,
    ssl,
    applicationName: url.searchParams.get("application_name") ?? undefined,
    redacted,
  };
}

function decode(part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    fail(`the ${what} is not valid percent-encoding`);
  }
}

function isIpAddress(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(":");
}

export type PostgresSettings = {
  url: string;
  poolSize: number;
  connectTimeoutS: number;
};

/**
 * The PostgreSQL settings from the environment, or null when TOOLGATE_DATABASE_URL is unset
 * (SQLite then). TOOLGATE_DATABASE_POOL_SIZE: connections per process (default 10).
 * TOOLGATE_DATABASE_CONNECT_TIMEOUT_S: how long the start waits for the database (default 10 s).
 */
export function postgresSettingsFromEnv(
  env: Record<string, string | undefined> = process.env,
): PostgresSettings | null {
  const url = env[DATABASE_URL_VARIABLE]?.trim();
  if (!url) return null;
  return {
    url,
    poolSize: positiveInteger(env, "TOOLGATE_DATABASE_POOL_SIZE", DEFAULT_POOL_SIZE),
    connectTimeoutS: positiveInteger(env, "TOOLGATE_DATABASE_CONNECT_TIMEOUT_S", DEFAULT_CONNECT_TIMEOUT_S),
  };
}

function positiveInteger(env: Record<string, string | undefined>, name: string, fallback: number): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw new DatabaseStartError(`${name} must be a positive whole number, not "${raw}"`);
  return n;
}

/** Errors that waiting cannot cure: reported at once rather than after the retry period. */
const PERMANENT_SQLSTATES = new Set([
  "28P01", // invalid_password
  "28000", // invalid_authorization_specification (no pg_hba.conf entry, ...)
  "3D000", // invalid_catalog_name (no such database)
  "42501", // insufficient_privilege
]);

function isPermanent(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  if (e.code && PERMANENT_SQLSTATES.has(e.code)) return true;
  if (e.code && /^(CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|ERR_TLS_CERT|ERR_SSL)/.test(e.code)) return true;
  return /does not support SSL|SASL|self[- ]signed certificate/i.test(e.message ?? "");
}

function reasonOf(error: unknown, password: string | undefined): string {
  const e = error as { code?: string; message?: string; errors?: unknown[] };
  // AggregateError (every address of a host refused): the first one says enough.
  const first =
    !e.message && Array.isArray(e.errors) && e.errors.length > 0 ? (e.errors[0] as { message?: string }) : e;
  let reason = first.message || e.code || String(error);
  if (password) reason = reason.split(password).join("***");
  return reason;
}

export type OpenPostgresOptions = {
  /** A postgres:// URL (TOOLGATE_DATABASE_URL). */
  url: string;
  poolSize?: number;
  /** How long to retry an unreachable database before giving up (seconds). */
  connectTimeoutS?: number;
  /** Apply pending migrations (under the advisory lock); true unless told otherwise. */
  migrate?: boolean;
  /** Folder holding drizzle-kit's PostgreSQL migrations; found next to the package when omitted. */
  migrationsFolder?: string;
  /** Start even when a newer Toolgate migrated the database (TOOLGATE_ALLOW_NEWER_SCHEMA). */
  allowNewerSchema?: boolean;
};

export type PostgresHandle = {
  db: PgDb;
  pool: pg.Pool;
  target: PostgresTarget;
  /** The driver and Drizzle modules the handle was made with (app/db/postgres-modules.server.ts). */
  modules: PostgresModules;
  close(): Promise<void>;
};

/**
 * Connects (retrying for up to `connectTimeoutS`), applies pending migrations under the advisory
 * lock, and returns the Drizzle database over the PostgreSQL tables with its pool. Every failure is
 * a DatabaseStartError whose message names TOOLGATE_DATABASE_URL and never holds the password.
 */
export async function openPostgres(options: OpenPostgresOptions): Promise<PostgresHandle> {
  const target = parseDatabaseUrl(options.url);
  const modules = await loadPostgresModules();
  const ssl = await waitForDatabase(modules.pg, target, (options.connectTimeoutS ?? DEFAULT_CONNECT_TIMEOUT_S) * 1000);
  const pool = new modules.pg.Pool({
    ...clientConfig(target, ssl),
    max: options.poolSize ?? DEFAULT_POOL_SIZE,
    idleTimeoutMillis: 30_000,
  });
  // An idle connection that dies (database restart, network) emits here; without a listener the
  // process would crash. The next checkout opens a fresh connection.
  pool.on("error", () => {});
  try {
    if (options.migrate ?? true) {
      await migratePostgres(pool, options.migrationsFolder ?? findPostgresMigrationsFolder(), target, options.allowNewerSchema);
    }
  } catch (error) {
    await pool.end().catch(() => {});
    throw error;
  }
  const db = modules.nodePg.drizzle(pool, { schema: modules.schema }) as PgDb;
  return { db, pool, target, modules, close: () => pool.end() };
}

function clientConfig(
  target: PostgresTarget,
  ssl: PostgresTarget["ssl"],
  connectTimeoutMs = 5_000,
): pg.ClientConfig {
  return {
    host: target.host,
    port: target.port,
    user: target.user,
    password: target.password,
    database: target.database,
    ssl,
    application_name: target.applicationName ?? "toolgate",
    connectionTimeoutMillis: Math.max(500, Math.min(5_000, connectTimeoutMs)),
  };
}

/** Encryption without verification, what libpq's prefer and allow use when they use TLS. */
const UNVERIFIED_TLS: ConnectionOptions = { rejectUnauthorized: false };

async function tryConnect(
  pg: PostgresModules["pg"],
  target: PostgresTarget,
  ssl: PostgresTarget["ssl"],
  timeoutMs: number,
): Promise<void> {
  const client = new pg.Client(clientConfig(target, ssl, timeoutMs));
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query("select 1");
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * One connection attempt with libpq's negotiation: `prefer` (the default) tries TLS and falls back
 * to a plain connection when the server has no TLS; `allow` tries a plain connection and then TLS
 * when the server requires it. Returns the TLS setting that worked.
 */
async function negotiate(pg: PostgresModules["pg"], target: PostgresTarget, timeoutMs: number): Promise<PostgresTarget["ssl"]> {
  if (target.sslmode === "prefer") {
    try {
      await tryConnect(pg, target, UNVERIFIED_TLS, timeoutMs);
      return UNVERIFIED_TLS;
    } catch (error) {
      if (!/does not support SSL/i.test((error as Error).message ?? "")) throw error;
    }
    await tryConnect(pg, target, false, timeoutMs);
    return false;
  }
  if (target.sslmode === "allow") {
    try {
      await tryConnect(pg, target, false, timeoutMs);
      return false;
    } catch (error) {
      const e = error as { code?: string; message?: string };
      if (!(e.code === "28000" && /no encryption/i.test(e.message ?? ""))) throw error;
    }
    await tryConnect(pg, target, UNVERIFIED_TLS, timeoutMs);
    return UNVERIFIED_TLS;
  }
  await tryConnect(pg, target, target.ssl, timeoutMs);
  return target.ssl;
}

async function waitForDatabase(pg: PostgresModules["pg"], target: PostgresTarget, timeoutMs: number): Promise<PostgresTarget["ssl"]> {
  const deadline = Date.now() + timeoutMs;
  let delay = 100;
  for (;;) {
    try {
      return await negotiate(pg, target, deadline - Date.now());
    } catch (error) {
      const where = `PostgreSQL at ${target.host}:${target.port} (database "${target.database}", user "${target.user}")`;
      const reason = reasonOf(error, target.password);
      if (isPermanent(error))
        throw new DatabaseStartError(`${DATABASE_URL_VARIABLE}: cannot connect to ${where}: ${reason}`);
      if (Date.now() >= deadline) {
        throw new DatabaseStartError(
          `${DATABASE_URL_VARIABLE}: cannot connect to ${where} after ${Math.round(timeoutMs / 1000)} s: ${reason}` +
            ` (TOOLGATE_DATABASE_CONNECT_TIMEOUT_S waits longer)`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(delay, deadline - Date.now())));
      delay = Math.min(delay * 2, 1_000);
    }
  }
}

/**
 * A transaction PostgreSQL aborted because of a concurrent one (serialization failure under
 * REPEATABLE READ / SERIALIZABLE, or a deadlock): running it again from the start is correct.
 */
export function isRetryableTransactionError(error: unknown): boolean {
  for (let e = error as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 4; depth++) {
    if (e.code === "40001" || e.code === "40P01") return true;
    e = e.cause as typeof e;
  }
  return false;
}

/** Whether the database answers within `timeoutMs` (for /readyz); never throws. */
export async function pingPostgres(pool: pg.Pool, timeoutMs = 2_000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([
      pool.query("select 1").then(
        () => true as const,
        () => false as const,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The `created_at` of every migration drizzle recorded (none before the first migration). */
async function appliedPostgresMigrations(client: pg.PoolClient): Promise<string[]> {
  const { rows } = await client.query<{ present: boolean }>("select to_regclass('drizzle.__drizzle_migrations') is not null as present");
  if (!rows[0]?.present) return [];
  return (await client.query<{ created_at: string }>("select created_at from drizzle.__drizzle_migrations")).rows.map((r) => r.created_at);
}

/**
 * Applies pending migrations while holding a session-level advisory lock on a dedicated
 * connection: replicas starting together take turns, and each one after the first finds nothing
 * left to do. Drizzle's migrator runs all pending migrations in one transaction, so a failing one
 * leaves the database at the previous version. The lock goes with the connection if the process dies.
 * A database a newer Toolgate migrated is refused first (decision 017) unless `allowNewerSchema`.
 */
export async function migratePostgres(
  pool: pg.Pool,
  migrationsFolder: string,
  target?: PostgresTarget,
  allowNewerSchema = false,
): Promise<void> {
  if (!fs.existsSync(path.join(migrationsFolder, "meta", "_journal.json"))) {
    throw new Error(`No PostgreSQL migrations in ${migrationsFolder} (meta/_journal.json is missing)`);
  }
  let client: pg.PoolClient | undefined;
  try {
    client = await pool.connect();
    await client.query("select pg_advisory_lock($1)", [MIGRATION_LOCK_KEY.toString()]);
  } catch (error) {
    client?.release(true);
    throw new DatabaseStartError(
      `${DATABASE_URL_VARIABLE}: the connection failed before migrating: ${reasonOf(error, target?.password)}`,
    );
  }
  let broken = false;
  try {
    try {
      if (!allowNewerSchema) {
        const applied = await appliedPostgresMigrations(client).catch((error: unknown) => {
          throw new DatabaseStartError(`${DATABASE_URL_VARIABLE}: could not read the schema version: ${reasonOf(error, target?.password)}`);
        });
        refuseNewerSchema(`The database of ${DATABASE_URL_VARIABLE}`, applied, shippedMigrationTimes(migrationsFolder));
      }
      const { migrator, nodePg } = await loadPostgresModules();
      await migrator.migrate(nodePg.drizzle(client), { migrationsFolder });
    } catch (error) {
      if (error instanceof DatabaseStartError) throw error;
      const cause = (error as { cause?: unknown }).cause ?? error;
      throw new DatabaseStartError(
        `${DATABASE_URL_VARIABLE}: a migration failed, the database stays at its previous version: ` +
          reasonOf(cause, target?.password),
      );
    } finally {
      await client.query("select pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY.toString()]).catch(() => {
        broken = true;
      });
    }
  } finally {
    // A connection whose unlock failed is discarded, which releases the lock.
    client.release(broken);
  }
}

/** Walks up from this module (or the bundle) to the folder holding drizzle-postgres/meta/_journal.json. */
export function findPostgresMigrationsFolder(): string {
  if (process.env.TOOLGATE_POSTGRES_MIGRATIONS_DIR)
    return path.resolve(process.env.TOOLGATE_POSTGRES_MIGRATIONS_DIR);
  const starts = [path.dirname(fileURLToPath(import.meta.url)), process.cwd()];
  for (const start of starts) {
    let dir = start;
    for (;;) {
      const candidate = path.join(dir, "drizzle-postgres");
      if (fs.existsSync(path.join(candidate, "meta", "_journal.json"))) return candidate;
      const parent = path.dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  throw new Error(
    "Could not find the drizzle-postgres/ migrations folder; set TOOLGATE_POSTGRES_MIGRATIONS_DIR",
  );
}
