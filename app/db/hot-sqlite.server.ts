/**
 * The SQLite implementation of the hot paths' hand-written SQL (app/db/hot.server.ts): statements
 * prepared once per connection, run through the connection's gate so that they never join
 * another request's open transaction.
 */
import type { HotSql, ShownOnceRow } from "./hot.server";
import type { SqliteConnection } from "./sqlite-store.server";

const CLAIM_REPLAY_KEY = `insert into replay_guard (key, expires_at) values (?, ?)
   on conflict (key) do update set expires_at = excluded.expires_at where replay_guard.expires_at <= ?`;
const DELETE_EXPIRED_REPLAY_KEYS = "delete from replay_guard where expires_at <= ?";
const INSERT_SHOWN_ONCE =
  "insert into shown_once_secrets (ref_hash, user_id, purpose, secret_enc, created_at, expires_at) values (?, ?, ?, ?, ?, ?)";
const TAKE_SHOWN_ONCE = `delete from shown_once_secrets where ref_hash = ? and user_id = ? and purpose = ?
   returning secret_enc as secretEnc, expires_at as expiresAt`;
const DELETE_EXPIRED_SHOWN_ONCE = "delete from shown_once_secrets where expires_at <= ?";

export function sqliteHotSql(c: SqliteConnection): HotSql {
  return {
    claimReplayKey: (key, expiresAt, now) => c.run(() => c.statement(CLAIM_REPLAY_KEY).run(key, expiresAt, now).changes === 1),
    deleteExpiredReplayKeys: (now) => c.run(() => c.statement(DELETE_EXPIRED_REPLAY_KEYS).run(now).changes),
    insertShownOnce: (r) =>
      c.run(() => {
        c.statement(INSERT_SHOWN_ONCE).run(r.refHash, r.userId, r.purpose, r.secretEnc, r.createdAt, r.expiresAt);
      }),
    takeShownOnce: (refHash, userId, purpose) =>
      c.run(() => c.statement<[string, string, string], ShownOnceRow>(TAKE_SHOWN_ONCE).get(refHash, userId, purpose)),
    deleteExpiredShownOnce: (now) => c.run(() => c.statement(DELETE_EXPIRED_SHOWN_ONCE).run(now).changes),
  };
}
