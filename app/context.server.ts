import fs from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import type { Config } from "./config.server";
import { openStore } from "./db/client.server";
import { openPostgresStore } from "./db/postgres-store.server";
import { postgresSettingsFromEnv } from "./db/postgres.server";
import type { Db, Store } from "./db/store.server";
import { createLogger, withFields, type Logger } from "./utils/log.server";

export type Secrets = {
  /** Signs session cookies and derives CSRF tokens. */
  sessionSecret: string;
  /** 32-byte AES key for values the server must read back (tool signing secrets, tool headers). */
  dataKey: Buffer;
};

/** Everything a domain module may depend on; passed explicitly so tests can build their own. */
export type AppContext = {
  /** The data layer (app/db/store.server.ts): async ORM handle, tables, transactions, hot-path SQL. */
  store: Store;
  /** The store's async ORM handle (`store.db`), for short. */
  db: Db;
  config: Config;
  secrets: Secrets;
  logger: Logger;
  /** Milliseconds since the epoch; replaced in tests that move time. */
  now: () => number;
  /** On a request's context (`requestContext`): the process-wide context it was made from. */
  readonly base?: AppContext;
};

/**
 * The context a request is handled with: the process-wide one, with a logger that puts the
 * request's id on every line. Passed explicitly rather than carried by AsyncLocalStorage, which on
 * Node 20 makes every promise in the process pay for it (decision 056). State kept per context
 * (the MCP servers, the pending "last used" writes, session storage) is kept on `baseContext`.
 */
export function requestContext(ctx: AppContext, requestId: string): AppContext {
  const base = baseContext(ctx);
  let logger: Logger | undefined;
  return {
    ...base,
    base,
    // Made on first use: most protocol requests log nothing but their access line, which the
    // server writes with the process-wide logger (a logger per request was ~1 KB of garbage each).
    get logger() {
      return (logger ??= withFields(base.logger, { requestId }));
    },
  };
}

/** The process-wide context of a request's context (itself when it is one). */
export function baseContext(ctx: AppContext): AppContext {
  return ctx.base ?? ctx;
}

export const DATABASE_FILE = "toolgate.db";

/**
 * Reads the generated secrets from the data folder, creating them (mode 0600) on first start.
 * TOOLGATE_SESSION_SECRET, when set, takes precedence for the session secret.
 */
export function loadSecrets(config: Config): Secrets {
  fs.mkdirSync(config.dataDir, { recursive: true });
  const file = path.join(config.dataDir, "secrets.json");
  let stored: { sessionSecret?: string; dataKey?: string } = {};
  if (fs.existsSync(file)) stored = JSON.parse(fs.readFileSync(file, "utf8"));
  if (!stored.sessionSecret || !stored.dataKey) {
    stored = {
      sessionSecret: stored.sessionSecret ?? randomBytes(32).toString("base64url"),
      dataKey: stored.dataKey ?? randomBytes(32).toString("base64url"),
    };
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(stored, null, 2) + "\n", { mode: 0o600 });
    fs.renameSync(tmp, file);
  }
  return {
    sessionSecret: config.sessionSecret ?? stored.sessionSecret!,
    dataKey: Buffer.from(stored.dataKey!, "base64url"),
  };
}

/**
 * The context on the SQLite file in the data folder, or on `overrides.store` when given (see
 * openAppContext for the choice of database).
 */
export function createAppContext(config: Config, overrides: Partial<AppContext> = {}): AppContext {
  const store = overrides.store ?? openStore(path.join(config.dataDir, DATABASE_FILE), { allowNewerSchema: config.allowNewerSchema });
  return {
    config,
    secrets: overrides.secrets ?? loadSecrets(config),
    store,
    db: store.db,
    logger: overrides.logger ?? createLogger(config.logLevel),
    now: overrides.now ?? Date.now,
  };
}

/**
 * The context on the configured database: PostgreSQL when TOOLGATE_DATABASE_URL is set (connected
 * and migrated; failures are DatabaseStartError, whose message is for the operator as is), else the
 * SQLite file in the data folder.
 */
export async function openAppContext(
  config: Config,
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<AppContext> = {},
): Promise<AppContext> {
  const settings = overrides.store ? null : postgresSettingsFromEnv(env);
  if (!settings) return createAppContext(config, overrides);
  const store = await openPostgresStore({ ...settings, allowNewerSchema: config.allowNewerSchema });
  try {
    return createAppContext(config, { ...overrides, store });
  } catch (error) {
    await store.close();
    throw error;
  }
}
