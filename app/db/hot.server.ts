/**
 * The hot paths' hand-written SQL, as named async functions. Each dialect implements this
 * interface next to the others in app/db (hot-sqlite.server.ts; a PostgreSQL one beside it), so
 * hand-written SQL lives in app/db only, once per dialect (docs/decisions/051-async-store.md).
 * Every function runs in the caller's store transaction when it is called inside one.
 */
export type ShownOnceRow = { secretEnc: string; expiresAt: number };

export interface HotSql {
  /** Replay guard: claims `key` until `expiresAt`; true when unclaimed or only claimed by an expired use. */
  claimReplayKey(key: string, expiresAt: number, now: number): Promise<boolean>;
  /** Replay guard: removes the keys that expired; returns how many. */
  deleteExpiredReplayKeys(now: number): Promise<number>;
  /** Shown-once secrets: stores one. */
  insertShownOnce(row: { refHash: string; userId: string; purpose: string; secretEnc: string; createdAt: number; expiresAt: number }): Promise<void>;
  /** Shown-once secrets: deletes the one with this reference, user and purpose, returning it. */
  takeShownOnce(refHash: string, userId: string, purpose: string): Promise<ShownOnceRow | undefined>;
  /** Shown-once secrets: removes those whose page was never opened; returns how many. */
  deleteExpiredShownOnce(now: number): Promise<number>;
}
