/**
 * One-time use of `jti`s (client assertions, ID-JAGs, DPoP proofs), shared by every replica through
 * the database (docs/decisions/050-one-time-values-across-replicas.md). A value is claimed by an
 * insert on a unique key; an expired row with the same key is taken over in the same statement, so
 * the check and the claim are one atomic write and two replicas can never both win.
 */
import type { AppContext } from "~/context.server";
import type { Tx } from "~/db/store.server";
import { sha256Hex } from "~/utils/crypto.server";

export type ReplayKind = "client_assertion" | "id_jag" | "dpop";

/**
 * Claims `jti` in `scope` (the issuer or the key that signed it) until `expiresAt` (ms). True
 * when this is its first use; false when it was seen before and has not expired.
 */
export function claimOnce(ctx: Pick<AppContext, "store" | "now">, kind: ReplayKind, scope: string, jti: string, expiresAt: number): Promise<boolean> {
  // Hashed: the key length stays fixed whatever the sender put in its jti.
  const key = `${kind}:${sha256Hex(`${scope}\u0000${jti}`)}`;
  return ctx.store.hot.claimReplayKey(ctx.store.db, key, expiresAt, ctx.now());
}

/** Removes the rows whose values are refused as expired anyway (run by the cleanup job). */
export function deleteExpiredReplayKeys(ctx: Pick<AppContext, "store" | "now">, tx: Tx): Promise<number> {
  return ctx.store.hot.deleteExpiredReplayKeys(tx, ctx.now());
}
