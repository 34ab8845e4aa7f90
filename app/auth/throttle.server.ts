import { eq, inArray, lt } from "drizzle-orm";
import type { AppContext } from "~/context.server";
import { signInThrottle } from "~/db/schema";

/**
 * Slows down password guessing, per account and per client address. Counters live in SQLite so a
 * restart does not reset them. Free attempts first, then an exponentially growing wait.
 */
export const THROTTLE = {
  account: { free: 5, maxDelayMs: 15 * 60_000 },
  address: { free: 20, maxDelayMs: 15 * 60_000 },
  /** Failures older than this are forgotten. */
  windowMs: 60 * 60_000,
};

export function throttleKeys(email: string, address: string) {
  return { account: `account:${email.trim().toLowerCase()}`, address: `address:${address}` };
}

/** Milliseconds until the next attempt is allowed for either key; 0 when allowed now. */
export function retryAfterMs(ctx: AppContext, keys: { account: string; address: string }): number {
  const now = ctx.now();
  const rows = ctx.db
    .select()
    .from(signInThrottle)
    .where(inArray(signInThrottle.key, [keys.account, keys.address]))
    .all();
  let wait = 0;
  for (const row of rows) if (row.blockedUntil > now) wait = Math.max(wait, row.blockedUntil - now);
  return wait;
}

export function recordFailure(ctx: AppContext, keys: { account: string; address: string }): void {
  const now = ctx.now();
  ctx.db.transaction((tx) => {
    for (const [key, policy] of [
      [keys.account, THROTTLE.account],
      [keys.address, THROTTLE.address],
    ] as const) {
      const row = tx.select().from(signInThrottle).where(eq(signInThrottle.key, key)).get();
      const fresh = !row || now - row.firstFailureAt > THROTTLE.windowMs;
      const failures = fresh ? 1 : row.failures + 1;
      const over = failures - policy.free + 1;
      const blockedUntil = over > 0 ? now + Math.min(policy.maxDelayMs, 1000 * 2 ** (over - 1)) : 0;
      tx.insert(signInThrottle)
        .values({ key, failures, firstFailureAt: fresh ? now : row.firstFailureAt, blockedUntil })
        .onConflictDoUpdate({
          target: signInThrottle.key,
          set: { failures, firstFailureAt: fresh ? now : row!.firstFailureAt, blockedUntil },
        })
        .run();
    }
    tx.delete(signInThrottle).where(lt(signInThrottle.firstFailureAt, now - 24 * THROTTLE.windowMs)).run();
  });
}

export function recordSuccess(ctx: AppContext, keys: { account: string; address: string }): void {
  ctx.db.delete(signInThrottle).where(eq(signInThrottle.key, keys.account)).run();
}
