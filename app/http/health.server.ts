import type { AppContext } from "~/context.server";
import { findMigrationsFolder } from "~/db/client.server";
import { findPostgresMigrationsFolder } from "~/db/postgres.server";
import { shippedMigrationTimes } from "~/db/schema-version.server";
import type { Store } from "~/db/store.server";
import { isDraining } from "./lifecycle.server";
import { jsonAnswer, NO_STORE, type ProtocolAnswer, type ProtocolHandler } from "./protocol.server";

const folders = new Map<Store["dialect"], string>();

/** The migrations shipped with this version for the store's dialect (drizzle/ or drizzle-postgres/). */
function shippedMigrations(dialect: Store["dialect"]): number[] {
  let folder = folders.get(dialect);
  if (!folder) {
    folder = dialect === "postgres" ? findPostgresMigrationsFolder() : findMigrationsFolder();
    folders.set(dialect, folder);
  }
  return shippedMigrationTimes(folder);
}

export type Readiness = { ready: true } | { ready: false; reason: string };

/**
 * Ready = not shutting down, the database answers, and every shipped migration of the store's
 * dialect is recorded in drizzle's __drizzle_migrations table (drizzle keys each migration by its
 * folder timestamp). On PostgreSQL the database is a server that can go away: a ping with a short
 * timeout answers first, so /readyz says 503 at once while it is down and 200 again when it returns.
 */
export async function readiness(ctx: AppContext): Promise<Readiness> {
  if (isDraining()) return { ready: false, reason: "shutting down" };
  if (ctx.store.dialect === "postgres" && !(await ctx.store.ping())) {
    ctx.logger.warn("readiness check: database unavailable");
    return { ready: false, reason: "database unavailable" };
  }
  let applied: Set<number>;
  try {
    applied = new Set(await ctx.store.appliedMigrations());
  } catch (error) {
    ctx.logger.warn("readiness check: database unavailable", { error });
    return { ready: false, reason: "database unavailable" };
  }
  const missing = shippedMigrations(ctx.store.dialect).filter((at) => !applied.has(at));
  if (missing.length > 0) return { ready: false, reason: `${missing.length} migration(s) not applied` };
  return { ready: true };
}

// Liveness: the process answers. Deliberately touches nothing else (one constant answer).
const HEALTHY: ProtocolAnswer = { status: 200, headers: { ...NO_STORE, "Content-Type": "application/json" }, body: JSON.stringify({ status: "ok" }) };
export const healthEndpoint: ProtocolHandler = () => HEALTHY;

export const readinessEndpoint: ProtocolHandler = async (_request, ctx) => {
  const state = await readiness(ctx);
  return state.ready ? jsonAnswer(200, { status: "ready" }, NO_STORE) : jsonAnswer(503, { status: "unavailable", reason: state.reason }, NO_STORE);
};
