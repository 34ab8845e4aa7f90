/**
 * "Last used" of each grant, without a database write per request: uses are noted in memory and
 * written in one transaction every few seconds, and once more at shutdown (flushLastUsed).
 * The column is informational (the connected-applications list, idle clean-up), so losing at most
 * one interval on a crash is acceptable.
 */
import { baseContext, type AppContext } from "~/context.server";
import { onShutdown } from "~/http/lifecycle.server";

const FLUSH_INTERVAL_MS = 5_000;

type Pending = { uses: Map<string, number>; timer: NodeJS.Timeout | null };

const pendingByContext = new WeakMap<AppContext, Pending>();

/** Notes that `grantId` was used now. Cheap: one Map write. */
export function noteGrantUsed(requestCtx: AppContext, grantId: string): void {
  // Kept and written by the process-wide context (its logger, the shutdown hook's context).
  const ctx = baseContext(requestCtx);
  let pending = pendingByContext.get(ctx);
  if (!pending) {
    pending = { uses: new Map(), timer: null };
    pendingByContext.set(ctx, pending);
  }
  pending.uses.set(grantId, ctx.now());
  if (!pending.timer) {
    const timer = setTimeout(() => {
      pending!.timer = null;
      void flushLastUsed(ctx);
    }, FLUSH_INTERVAL_MS);
    timer.unref();
    pending.timer = timer;
  }
}

/** Writes the noted uses to grants.last_used_at. Called by the timer and at shutdown. */
export async function flushLastUsed(requestCtx: AppContext): Promise<void> {
  const ctx = baseContext(requestCtx);
  const pending = pendingByContext.get(ctx);
  if (!pending || pending.uses.size === 0) return;
  if (pending.timer) {
    clearTimeout(pending.timer);
    pending.timer = null;
  }
  const uses = [...pending.uses];
  pending.uses.clear();
  if (ctx.store.closed) return;
  try {
    await ctx.store.hot.recordGrantUses(uses);
  } catch (error) {
    ctx.logger.warn("could not record grant last use", { error });
  }
}

// `serve` runs this after the last request finished and before the database closes.
onShutdown("mcp grant last use", flushLastUsed);
