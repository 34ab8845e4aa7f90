import { readMigrationFiles } from "drizzle-orm/migrator";
import type { AppContext } from "~/context.server";
import { findMigrationsFolder } from "~/db/client.server";
import { json } from "./headers.server";
import { isDraining } from "./lifecycle.server";
import { endWith } from "./node-request.server";
import { nodeProtocolRoute, protocolRoute } from "./protocol.server";

type Migration = { folderMillis: number; hash: string };
let expected: Migration[] | undefined;

/** The migrations shipped with this version (drizzle/meta/_journal.json), read once. */
function shippedMigrations(): Migration[] {
  expected ??= readMigrationFiles({ migrationsFolder: findMigrationsFolder() }).map((m) => ({
    folderMillis: m.folderMillis,
    hash: m.hash,
  }));
  return expected;
}

export type Readiness = { ready: true } | { ready: false; reason: string };

/**
 * Ready = not shutting down, the database answers, and every shipped migration is recorded in
 * drizzle's __drizzle_migrations table (drizzle keys each migration by its folder timestamp).
 */
export function readiness(ctx: AppContext): Readiness {
  if (isDraining()) return { ready: false, reason: "shutting down" };
  let applied: Set<number>;
  try {
    const rows = ctx.db.$client.prepare("select created_at from __drizzle_migrations").all() as { created_at: number | string }[];
    applied = new Set(rows.map((r) => Number(r.created_at)));
  } catch (error) {
    ctx.logger.warn("readiness check: database unavailable", { error });
    return { ready: false, reason: "database unavailable" };
  }
  const missing = shippedMigrations().filter((m) => !applied.has(m.folderMillis));
  if (missing.length > 0) return { ready: false, reason: `${missing.length} migration(s) not applied` };
  return { ready: true };
}

// Liveness: the process answers. Deliberately touches nothing else.
protocolRoute(/^\/healthz$/, () => json({ status: "ok" }, { noStore: true }));
const HEALTHY = JSON.stringify({ status: "ok" });
const HEALTHY_HEADERS = { "Content-Type": "application/json", "Cache-Control": "no-store", Pragma: "no-cache" };
nodeProtocolRoute(/^\/healthz$/, (_req, res) => {
  endWith(res, 200, HEALTHY_HEADERS, HEALTHY);
});

protocolRoute(/^\/readyz$/, (_request, ctx) => {
  const state = readiness(ctx);
  return state.ready
    ? json({ status: "ready" }, { noStore: true })
    : json({ status: "unavailable", reason: state.reason }, { status: 503, noStore: true });
});
