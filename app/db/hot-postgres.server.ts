/**
 * The PostgreSQL implementation of the hot paths' hand-written SQL (app/db/hot.server.ts), beside
 * hot-sqlite.server.ts: same names, same results. Each function runs on `on()`: the client of the
 * caller's open store transaction, or the pool.
 *
 * The hot statements are named prepared statements (`name`): the server parses and plans each once
 * per connection (docs/decisions/053-postgres-driver.md, 054-postgres-store.md). A name stands for
 * one SQL text for the life of a connection, so each name below belongs to one constant.
 */
import type { QueryConfig } from "pg";
import type { HotSql, ShownOnceRow } from "./hot.server";
import type { Queryable } from "./postgres-store.server";

const named = (name: string, text: string) => (values: unknown[]): QueryConfig => ({ name, text, values });

// Claims an unclaimed key, or one whose claim expired; a live claim is left alone (no row returned).
const CLAIM_REPLAY_KEY = named(
  "tg_claim_replay_key",
  `insert into replay_guard (key, expires_at) values ($1, $2)
   on conflict (key) do update set expires_at = excluded.expires_at where replay_guard.expires_at <= $3`,
);
const DELETE_EXPIRED_REPLAY_KEYS = named("tg_delete_expired_replay_keys", "delete from replay_guard where expires_at <= $1");
const INSERT_SHOWN_ONCE = named(
  "tg_insert_shown_once",
  "insert into shown_once_secrets (ref_hash, user_id, purpose, secret_enc, created_at, expires_at) values ($1, $2, $3, $4, $5, $6)",
);
const TAKE_SHOWN_ONCE = named(
  "tg_take_shown_once",
  `delete from shown_once_secrets where ref_hash = $1 and user_id = $2 and purpose = $3
   returning secret_enc as "secretEnc", expires_at as "expiresAt"`,
);
const DELETE_EXPIRED_SHOWN_ONCE = named("tg_delete_expired_shown_once", "delete from shown_once_secrets where expires_at <= $1");

export function postgresHotSql(on: () => Queryable): HotSql {
  const changed = async (query: QueryConfig) => (await on().query(query)).rowCount ?? 0;
  return {
    claimReplayKey: async (key, expiresAt, now) => (await changed(CLAIM_REPLAY_KEY([key, expiresAt, now]))) === 1,
    deleteExpiredReplayKeys: (now) => changed(DELETE_EXPIRED_REPLAY_KEYS([now])),
    insertShownOnce: async (r) => {
      await on().query(INSERT_SHOWN_ONCE([r.refHash, r.userId, r.purpose, r.secretEnc, r.createdAt, r.expiresAt]));
    },
    takeShownOnce: async (refHash, userId, purpose) =>
      (await on().query<ShownOnceRow>(TAKE_SHOWN_ONCE([refHash, userId, purpose]))).rows[0],
    deleteExpiredShownOnce: (now) => changed(DELETE_EXPIRED_SHOWN_ONCE([now])),
  };
}
