import { eq, inArray, lt } from "drizzle-orm";
import type { AppContext } from "~/context.server";

/**
 * Slows down password guessing. Counters live in SQLite so a restart does not reset them. Free
 * attempts first, then an exponentially growing wait. An attempt from a browser with a valid
 * device cookie for the account counts against that device alone; every other attempt counts
 * against the account and the client address (decision 030).
 */
export const THROTTLE = {
  account: { free: 5, maxDelayMs: 15 * 60_000 },
  address: { free: 20, maxDelayMs: 15 * 60_000 },
  device: { free: 10, maxDelayMs: 15 * 60_000 },
  /** Failures older than this are forgotten. */
  windowMs: 60 * 60_000,
};

type Policy = { free: number; maxDelayMs: number };
export type ThrottleKey = { key: string; policy: Policy };

/** The counters an untrusted attempt is judged on and counted against. */
export function untrustedKeys(email: string, address: string): ThrottleKey[] {
  return [
    { key: `account:${email.trim().toLowerCase()}`, policy: THROTTLE.account },
    { key: `address:${address}`, policy: THROTTLE.address },
  ];
}

/** The counter of one device cookie (its nonce; the cookie's signature binds it to the account). */
export function deviceKeys(nonce: string): ThrottleKey[] {
  return [{ key: `device:${nonce}`, policy: THROTTLE.device }];
}

/** Milliseconds until the next attempt is allowed for every key; 0 when allowed now. */
export async function retryAfterMs(ctx: AppContext, keys: ThrottleKey[]): Promise<number> {
  const { signInThrottle } = ctx.store.tables;
  const now = ctx.now();
  const rows = (await ctx.db
    .select()
    .from(signInThrottle)
    .where(inArray(signInThrottle.key, keys.map((k) => k.key))));
  let wait = 0;
  for (const row of rows) if (row.blockedUntil > now) wait = Math.max(wait, row.blockedUntil - now);
  return wait;
}

export async function recordFailure(ctx: AppContext, keys: ThrottleKey[]): Promise<void> {
  const { signInThrottle } = ctx.store.tables;
  const now = ctx.now();
  await ctx.store.transaction(async (tx) => {
    for (const { key, policy } of keys) {
      const row = (await tx.select().from(signInThrottle).where(eq(signInThrottle.key, key)).limit(1))[0];
      const fresh = !row || now - row.firstFailureAt > THROTTLE.windowMs;
      const failures = fresh ? 1 : row.failures + 1;
      const over = failures - policy.free + 1;
      const blockedUntil = over > 0 ? now + Math.min(policy.maxDelayMs, 1000 * 2 ** (over - 1)) : 0;
      await tx.insert(signInThrottle)
        .values({ key, failures, firstFailureAt: fresh ? now : row.firstFailureAt, blockedUntil })
        .onConflictDoUpdate({
          target: signInThrottle.key,
          set: { failures, firstFailureAt: fresh ? now : row!.firstFailureAt, blockedUntil },
        });
    }
    await tx.delete(signInThrottle).where(lt(signInThrottle.firstFailureAt, now - 24 * THROTTLE.windowMs));
  });
}

/**
 * A correct password clears the counter it was judged on, except an address's (others may share
 * it). An untrusted success clears the account's; a trusted one clears only its device's, so the
 * owner signing in does not hand a guesser elsewhere a fresh set of free attempts.
 */
export async function recordSuccess(ctx: AppContext, keys: ThrottleKey[]): Promise<void> {
  const { signInThrottle } = ctx.store.tables;
  const cleared = keys.map((k) => k.key).filter((key) => !key.startsWith("address:"));
  if (cleared.length) await ctx.db.delete(signInThrottle).where(inArray(signInThrottle.key, cleared));
}
