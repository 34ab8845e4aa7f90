/**
 * Audit retention: events older than TOOLGATE_AUDIT_RETENTION_DAYS are deleted, once when the
 * server starts and then every hour.
 */
import { lt } from "drizzle-orm";
import type { AppContext } from "~/context.server";
import { onShutdown } from "~/http/lifecycle.server";

const DAY_MS = 24 * 60 * 60 * 1000;
export const PRUNE_INTERVAL_MS = 60 * 60 * 1000;

/** Deletes audit events older than the retention period. Returns how many were deleted. */
export async function pruneAuditEvents(ctx: AppContext): Promise<number> {
  const { auditEvents } = ctx.store.tables;
  const cutoff = ctx.now() - ctx.config.auditRetentionDays * DAY_MS;
  const deleted = (await ctx.db.delete(auditEvents).where(lt(auditEvents.at, cutoff)).returning({ id: auditEvents.id })).length;
  if (deleted > 0) ctx.logger.info("audit events pruned", { deleted, retentionDays: ctx.config.auditRetentionDays });
  return deleted;
}

/**
 * Starts the access feature's background jobs (audit pruning now, then hourly). The timer is
 * unref'd so it never keeps the process alive, and stops at shutdown before the database closes;
 * the returned function stops it too.
 */
export function startAccessJobs(ctx: AppContext, intervalMs = PRUNE_INTERVAL_MS): () => void {
  let running: Promise<void> | null = null;
  const run = () => {
    if (running) return;
    running = pruneAuditEvents(ctx)
      .then(() => undefined)
      .catch((error: unknown) => {
        ctx.logger.error("audit pruning failed", { error });
      })
      .finally(() => {
        running = null;
      });
  };
  run();
  const timer = setInterval(run, intervalMs);
  timer.unref();
  // The hook only clears the timer: removing hooks while they run would skip the next one.
  const removeHook = onShutdown("access-jobs", () => {
    clearInterval(timer);
    // The run in progress finishes before the database closes.
    return running ?? undefined;
  });
  return () => {
    clearInterval(timer);
    removeHook();
  };
}
