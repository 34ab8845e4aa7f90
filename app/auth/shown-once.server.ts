/**
 * Secrets shown once after a redirect (a server's new signing secret). The secret never goes into
 * a cookie: it is stored encrypted under a random reference, the reference travels in the signed
 * flash, and the page that reads it deletes the row in the same statement
 * (docs/decisions/034-secrets-shown-once.md).
 */
import type { AppContext } from "~/context.server";
import type { Tx } from "~/db/store.server";
import { decryptText, encryptText, randomToken, sha256Hex } from "~/utils/crypto.server";

/** How long a secret waits for its page; the redirect follows at once, so minutes are plenty. */
export const SHOWN_ONCE_TTL_MS = 10 * 60 * 1000;

/** Stores `secret` for `userId` to read once for `purpose`; returns the reference for the flash. */
export async function storeShownOnce(ctx: AppContext, userId: string, purpose: string, secret: string): Promise<string> {
  const ref = randomToken(24);
  const now = ctx.now();
  await ctx.store.hot.insertShownOnce(ctx.db, {
    refHash: sha256Hex(ref),
    userId,
    purpose,
    secretEnc: encryptText(ctx.secrets.dataKey, secret),
    createdAt: now,
    expiresAt: now + SHOWN_ONCE_TTL_MS,
  });
  return ref;
}

/** The secret behind `ref`, deleted as it is read; null when unknown, read already, expired or not this user's. */
export async function takeShownOnce(ctx: AppContext, userId: string, purpose: string, ref: string): Promise<string | null> {
  const row = await ctx.store.hot.takeShownOnce(ctx.db, sha256Hex(ref), userId, purpose);
  if (!row || row.expiresAt <= ctx.now()) return null;
  try {
    return decryptText(ctx.secrets.dataKey, row.secretEnc);
  } catch {
    return null;
  }
}

/** Removes secrets whose page was never opened (in the cleanup's transaction). */
export function deleteExpiredShownOnce(ctx: AppContext, tx: Tx): Promise<number> {
  return ctx.store.hot.deleteExpiredShownOnce(tx, ctx.now());
}
