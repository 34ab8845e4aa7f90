/**
 * Audit retention: events older than TOOLGATE_AUDIT_RETENTION_DAYS are deleted, once when the
 * server starts and then every hour.
 */
import { lt } from "drizzle-orm";
import type { AppContext } from "~/context.server";
import { auditEvents } from "~/db/schema";
import { onShutdown } from "~/http/lifecycle.server";

const DAY_MS = 24 * 60 * 60 * 1000;
export const PRUNE_INTERVAL_MS = 60 * 60 * 1000;

/** Deletes audit events older than the retention period. Returns how many were deleted. */
export function pruneAuditEvents(ctx: AppContext): number {
  const cutoff = ctx.now() - ctx.config.auditRetentionDays * DAY_MS;
  const result = ctx.db.delete(auditEvents).where(lt(auditEvents.at, cutoff)).run();
  if (result.changes > 0) ctx.logger.info("audit events pruned", { deleted: result.changes, retentionDays: ctx.config.auditRetentionDays });
  return result.changes;
}

/**
 * Starts the access feature's background jobs (audit pruning now, then hourly). The timer is
 * unref'd so it never keeps the process alive, and stops at shutdown before the database closes;
 * the returned function stops it too.
 */
export function startAccessJobs(ctx: AppContext, intervalMs = PRUNE_INTERVAL_MS): () => void {
  const run = () => {
    try {
      pruneAuditEvents(ctx);
    } catch (error) {
      ctx.logger.error("audit pruning failed", { error });
    }
  };
  run();
  const timer = setInterval(run, intervalMs);
  timer.unref();
  // The hook only clears the timer: removing hooks while they run would skip the next one.
  const removeHook = onShutdown("access-jobs", () => clearInterval(timer));
  return () => {
    clearInterval(timer);
    removeHook();
  };
}
