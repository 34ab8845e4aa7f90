/**
 * The PostgreSQL implementation of the hot paths' hand-written SQL (app/db/hot.server.ts), beside
 * hot-sqlite.server.ts: same names, same results. Each function runs on the queryable of the
 * handle it is given: the transaction's client for a store transaction's `tx`, the pool (or the
 * open transaction of the calling context) for `ctx.db`.
 *
 * Differences from the SQLite text, each for the same result: `$n` parameters; camelCase aliases
 * quoted; booleans and `exists`/`is not null` cast to int, since the interface reports SQLite's 0/1;
 * name orders `collate "C"` (SQLite's BINARY, byte-wise); `greatest` for SQLite's two-argument max.
 *
 * Every statement is a named prepared statement (docs/decisions/053-postgres-driver.md,
 * 054-postgres-store.md): the server parses and plans each once per connection. A name stands for
 * one SQL text for the life of a connection, so each name belongs to one constant below.
 */
import type { QueryConfig, QueryResultRow } from "pg";
import type * as H from "./hot.server";
import { secondsUntilToken } from "./hot.server";
import type { Queryable } from "./postgres-store.server";
import type { Db } from "./store.server";

type Statement = (values: unknown[]) => QueryConfig;
const named =
  (name: string, text: string): Statement =>
  (values) => ({ name: `tg_${name}`, text, values });

// Rate-limit buckets (decision 055), as in hot-sqlite.server.ts: least/greatest for min/max.
const TAKE_RATE_LIMIT_TOKEN = named(
  "take_rate_limit_token",
  `insert into rate_limit_buckets as b (key, milli_tokens, updated_at) values ($1, $2::bigint - 1000, $3::bigint)
   on conflict (key) do update
      set milli_tokens = least($2::bigint, b.milli_tokens + greatest(0, least($3::bigint - b.updated_at, 86400000)) * $4::bigint / 60) - 1000,
          updated_at = greatest(b.updated_at, $3::bigint)
    where least($2::bigint, b.milli_tokens + greatest(0, least($3::bigint - b.updated_at, 86400000)) * $4::bigint / 60) >= 1000
   returning milli_tokens as "milliTokens"`,
);
const RATE_LIMIT_BUCKET = named(
  "rate_limit_bucket",
  `select milli_tokens as "milliTokens", updated_at as "updatedAt" from rate_limit_buckets where key = $1`,
);
const DELETE_IDLE_RATE_LIMIT_BUCKETS = named("delete_idle_rate_limit_buckets", "delete from rate_limit_buckets where updated_at < $1");

// Replay guard (decision 050): the check and the claim are one write.
const CLAIM_REPLAY_KEY = named(
  "claim_replay_key",
  `insert into replay_guard (key, expires_at) values ($1, $2)
   on conflict (key) do update set expires_at = excluded.expires_at where replay_guard.expires_at <= $3`,
);
const DELETE_EXPIRED_REPLAY_KEYS = named("delete_expired_replay_keys", "delete from replay_guard where expires_at <= $1");

const INSERT_SHOWN_ONCE = named(
  "insert_shown_once",
  "insert into shown_once_secrets (ref_hash, user_id, purpose, secret_enc, created_at, expires_at) values ($1, $2, $3, $4, $5, $6)",
);
const TAKE_SHOWN_ONCE = named(
  "take_shown_once",
  `delete from shown_once_secrets where ref_hash = $1 and user_id = $2 and purpose = $3
   returning secret_enc as "secretEnc", expires_at as "expiresAt"`,
);
const DELETE_EXPIRED_SHOWN_ONCE = named("delete_expired_shown_once", "delete from shown_once_secrets where expires_at <= $1");

const INSERT_AUDIT_EVENT = named(
  "insert_audit_event",
  "insert into audit_events (at, kind, server_id, user_id, client_id, grant_id, actor, detail) values ($1, $2, $3, $4, $5, $6, $7, $8)",
);

const ACCESS_TOKEN_COLUMNS = "token_hash, family_id, grant_id, client_id, user_id, server_id, scope, created_at, expires_at, dpop_jkt";
const REFRESH_TOKEN_COLUMNS = "token_hash, family_id, grant_id, client_id, created_at, expires_at, access_token_hash, dpop_jkt";
const INSERT_ACCESS_TOKEN = named(
  "insert_access_token",
  `insert into access_tokens (${ACCESS_TOKEN_COLUMNS}) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
);
// Both tokens of a grant in one round trip; the foreign keys are checked at the end of the statement.
const INSERT_ACCESS_AND_REFRESH_TOKENS = named(
  "insert_access_and_refresh_tokens",
  `with access as (insert into access_tokens (${ACCESS_TOKEN_COLUMNS}) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10))
   insert into refresh_tokens (${REFRESH_TOKEN_COLUMNS}) values ($11, $12, $13, $14, $15, $16, $17, $18)`,
);

// The bearer check runs on every MCP request: one primary-key read, with the token's server.
const ACCESS_TOKEN_WITH_SERVER = named(
  "access_token_with_server",
  `select a.grant_id as "grantId", a.family_id as "familyId", a.client_id as "clientId", a.user_id as "userId",
        a.server_id as "serverId", a.scope, a.expires_at as "expiresAt", a.revoked_at as "revokedAt", a.dpop_jkt as "dpopJkt",
        s.dpop_required::int as "serverDpopRequired",
        s.name as "serverName", s.description as "serverDescription", s.updated_at as "serverUpdatedAt",
        s.tools_version as "serverToolsVersion"
   from access_tokens a join mcp_servers s on s.id = a.server_id
  where a.token_hash = $1`,
);

const GRANT_BY_ID = named(
  "grant_by_id",
  `select id, user_id as "userId", client_id as "clientId", server_id as "serverId", scope, revoked_at as "revokedAt"
     from grants where id = $1`,
);
const REFRESH_COLUMNS = (r: string) => `${r}token_hash as "tokenHash", ${r}family_id as "familyId", ${r}grant_id as "grantId",
         ${r}client_id as "clientId", ${r}expires_at as "expiresAt", ${r}rotated_at as "rotatedAt", ${r}replaced_by as "replacedBy",
         ${r}revoked_at as "revokedAt", ${r}superseded_at as "supersededAt", ${r}access_token_hash as "accessTokenHash",
         ${r}dpop_jkt as "dpopJkt"`;
const REFRESH_TOKEN = named("refresh_token", `select ${REFRESH_COLUMNS("")} from refresh_tokens where token_hash = $1`);
// The refresh grant decides on this read, inside its transaction. `for update of r` makes requests
// presenting the same token take turns from here to their commit, as SQLite's one writer does: each
// then decides on the state the previous one left, instead of ten parallel retries deciding on the
// same stale read and all but one losing their conditional writes (and retrying) again and again.
// The conditional writes below still hold on their own for requests presenting different tokens.
// Exported for the query-plan check of tests/integration/oauth-token-cost.test.ts.
export const PRESENTED_REFRESH_TOKEN = named(
  "presented_refresh_token",
  `select ${REFRESH_COLUMNS("r.")},
         (f.id is not null)::int as "familyFound", f.revoked_at as "familyRevokedAt",
         g.user_id as "grantUserId", g.server_id as "grantServerId", g.scope as "grantScope", g.revoked_at as "grantRevokedAt"
    from refresh_tokens r
    left join token_families f on f.id = r.family_id
    left join grants g on g.id = r.grant_id
   where r.token_hash = $1
     for update of r`,
);
// The conditional writes of a rotation: each changes its row only from the state the decision was
// made on. Under READ COMMITTED a second writer waits for the first one's row lock, then
// re-evaluates the WHERE on the committed row and changes nothing: one winner across processes.
const CLAIM_ROTATION = named(
  "claim_rotation",
  `update refresh_tokens set rotated_at = $1, replaced_by = $2
   where token_hash = $3 and rotated_at is null and revoked_at is null`,
);
const CLAIM_SUPERSESSION = named(
  "claim_supersession",
  `update refresh_tokens set revoked_at = $1, superseded_at = $1
   where token_hash = $2 and rotated_at is null and revoked_at is null`,
);
const REPOINT_SUCCESSOR = named(
  "repoint_successor",
  "update refresh_tokens set replaced_by = $1 where token_hash = $2 and replaced_by = $3 and revoked_at is null",
);
const REVOKE_ACCESS_TOKEN = named(
  "revoke_access_token",
  "update access_tokens set revoked_at = $1 where token_hash = $2 and revoked_at is null",
);
const MACHINE_GRANT = named(
  "machine_grant",
  `select id, user_id as "userId", server_id as "serverId", scope, revoked_at as "revokedAt"
     from grants where client_id = $1 and source = 'machine'`,
);
const SERVER_ACCESS = named(
  "server_access",
  `select id, owner_id as "ownerId", enterprise_access::int as "enterpriseAccess", enterprise_tools as "enterpriseTools"
     from mcp_servers where id = $1`,
);
const SERVER_TOOL_NAMES = named("server_tool_names", "select id, name from tools where server_id = $1");

const CLIENT_BY_ID = named(
  "client_by_id",
  `select id, kind, secret_hash as "secretHash", token_endpoint_auth_method as "tokenEndpointAuthMethod",
       client_name as "clientName", client_uri as "clientUri", logo_uri as "logoUri", redirect_uris as "redirectUris",
       metadata, created_at as "createdAt", last_used_at as "lastUsedAt", expires_at as "expiresAt"
  from oauth_clients where id = $1`,
);
const CLIENT_METADATA = named("client_metadata", "select metadata from oauth_clients where id = $1");
const INSERT_REGISTERED_CLIENT = named(
  "insert_registered_client",
  `insert into oauth_clients (id, kind, secret_hash, token_endpoint_auth_method, client_name, client_uri, logo_uri,
                              redirect_uris, metadata, created_at, last_used_at)
       values ($1, 'registered', $2, $3, $4, $5, $6, $7, $8, $9, null)`,
);
const TOUCH_CLIENT = named(
  "touch_client",
  "update oauth_clients set last_used_at = $1 where id = $2 and (last_used_at is null or last_used_at < $3)",
);

const MCP_SERVER = named(
  "mcp_server",
  `select id, name, description, updated_at as "updatedAt", tools_version as "toolsVersion" from mcp_servers where id = $1`,
);
const GRANTED_TOOLS = named(
  "granted_tools",
  `select t.name, t.description, t.input_schema as "inputSchema", t.annotations, t.output_schema as "outputSchema"
     from grant_tools gt join tools t on t.id = gt.tool_id
    where gt.grant_id = $1 and t.server_id = $2
    order by t.name collate "C"`,
);
const TOOL_BY_NAME = named(
  "tool_by_name",
  `select t.id, t.server_id as "serverId", t.name, t.description, t.input_schema as "inputSchema",
        t.endpoint_url as "endpointUrl", t.endpoint_method as "endpointMethod",
        t.endpoint_headers_enc as "endpointHeadersEnc", t.endpoint_params as "endpointParams",
        t.annotations, t.output_schema as "outputSchema", t.imported_from as "importedFrom", t.created_at as "createdAt",
        t.updated_at as "updatedAt",
        exists(select 1 from grant_tools gt where gt.grant_id = $1 and gt.tool_id = t.id)::int as granted,
        s.signing_secret_enc as "upstreamSigningSecretEnc", s.base_url as "upstreamBaseUrl", s.api_auth as "upstreamApiAuth",
        s.api_secret_enc as "upstreamApiSecretEnc"
   from tools t join mcp_servers s on s.id = t.server_id
  where t.server_id = $2 and t.name = $3`,
);
const TOOL_INPUT_SCHEMA = named("tool_input_schema", `select input_schema as "inputSchema" from tools where server_id = $1 and name = $2`);
const SERVER_UPSTREAM = named(
  "server_upstream",
  `select signing_secret_enc as "signingSecretEnc", base_url as "baseUrl", api_auth as "apiAuth", api_secret_enc as "apiSecretEnc"
     from mcp_servers where id = $1`,
);
// All the batched uses in one statement; the latest per grant, and never moving a time backwards.
const RECORD_GRANT_USES = named(
  "record_grant_uses",
  `update grants g set last_used_at = greatest(coalesce(g.last_used_at, 0), u.at)
     from (select id, max(at) as at from unnest($1::text[], $2::bigint[]) as n(id, at) group by id) u
    where g.id = u.id`,
);

const SESSION_USER = named(
  "session_user",
  `select u.id as id, u.email as email, u.name as name, u.role as role
     from sessions s join users u on u.id = s.user_id
    where s.id = $1 and s.user_id = $2 and s.expires_at > $3`,
);
const PENDING_REQUEST = named(
  "pending_request",
  `select id, client_id as "clientId", redirect_uri as "redirectUri",
       redirect_uri_provided::int as "redirectUriProvided", state, code_challenge as "codeChallenge", scope, resource,
       server_id as "serverId", created_at as "createdAt", expires_at as "expiresAt", completed_at as "completedAt"
  from authorization_requests where id = $1`,
);
const CLIENT_NAME = named("client_name", "select client_name as name from oauth_clients where id = $1");
const SERVER_NAME = named("server_name", "select name from mcp_servers where id = $1");
const OWNED_SERVER = named("owned_server", "select id, name, description from mcp_servers where id = $1 and owner_id = $2");
const OWNED_SERVERS = named("owned_servers", `select id, name from mcp_servers where owner_id = $1 order by name collate "C"`);
const CONSENT_TOOLS = named(
  "consent_tools",
  `select id, name, description, annotations from tools where server_id = $1 order by name collate "C"`,
);
const SERVER_FOR_METADATA = named(
  "server_for_metadata",
  `select id, name, dpop_required::int as "dpopRequired" from mcp_servers where id = $1`,
);
// The distinct clients of a server's events by skipping through the (server_id, client_id) index.
const ACTIVITY_CLIENTS = named(
  "activity_clients",
  // The walk compares client ids in the index's collation (the database's), so each step is one
  // seek of audit_events_server_client_idx; a `collate "C"` here would make every step read all of
  // the server's events. The answer is then the first $2 in byte order, as SQLite's walk gives.
  `with recursive c(id) as (
     select (select min(client_id) from audit_events where server_id = $1 and client_id is not null)
     union all
     select (select min(client_id) from audit_events where server_id = $1 and client_id > c.id)
       from c where c.id is not null
   )
   select c.id as id, oc.client_name as name, oc.kind as kind, oc.redirect_uris as "redirectUris"
     from c left join oauth_clients oc on oc.id = c.id where c.id is not null
    order by c.id collate "C" limit $2`,
);

/**
 * `queryableOf(db)`: where a statement given the handle `db` runs (the store keeps the map from
 * each handle it hands out to its pool or client).
 */
export function postgresHotSql(queryableOf: (db: Db) => Queryable, pool: Queryable): H.HotSql {
  const query = <R extends QueryResultRow>(db: Db, statement: Statement, ...values: unknown[]) =>
    queryableOf(db).query<R>(statement(values));
  const get = async <R extends QueryResultRow>(db: Db, statement: Statement, ...values: unknown[]) =>
    (await query<R>(db, statement, ...values)).rows[0];
  const all = async <R extends QueryResultRow>(db: Db, statement: Statement, ...values: unknown[]) =>
    (await query<R>(db, statement, ...values)).rows;
  const changes = async (db: Db, statement: Statement, ...values: unknown[]) =>
    (await query(db, statement, ...values)).rowCount ?? 0;
  const run = async (db: Db, statement: Statement, ...values: unknown[]) => {
    await query(db, statement, ...values);
  };
  const pluck = async <R>(db: Db, statement: Statement, ...values: unknown[]) => {
    const row = await get<Record<string, R>>(db, statement, ...values);
    return row ? Object.values(row)[0] : undefined;
  };
  return {
    takeRateLimitToken: async (db, key, burst, perMinute, now) => {
      if (await get(db, TAKE_RATE_LIMIT_TOKEN, key, burst * 1000, now, perMinute)) return 0;
      return secondsUntilToken(await get<H.RateLimitBucketRow>(db, RATE_LIMIT_BUCKET, key), burst, perMinute, now);
    },
    deleteIdleRateLimitBuckets: (db, before) => changes(db, DELETE_IDLE_RATE_LIMIT_BUCKETS, before),
    claimReplayKey: async (db, key, expiresAt, now) => (await changes(db, CLAIM_REPLAY_KEY, key, expiresAt, now)) === 1,
    deleteExpiredReplayKeys: (db, now) => changes(db, DELETE_EXPIRED_REPLAY_KEYS, now),
    insertShownOnce: (db, r) => run(db, INSERT_SHOWN_ONCE, r.refHash, r.userId, r.purpose, r.secretEnc, r.createdAt, r.expiresAt),
    takeShownOnce: (db, refHash, userId, purpose) => get<H.ShownOnceRow>(db, TAKE_SHOWN_ONCE, refHash, userId, purpose),
    deleteExpiredShownOnce: (db, now) => changes(db, DELETE_EXPIRED_SHOWN_ONCE, now),
    insertAuditEvent: (db, e) =>
      run(db, INSERT_AUDIT_EVENT, e.at, e.kind, e.serverId, e.userId, e.clientId, e.grantId, e.actor, e.detail),
    insertTokens: (db, a, r) => {
      const access = [a.tokenHash, a.familyId, a.grantId, a.clientId, a.userId, a.serverId, a.scope, a.createdAt, a.expiresAt, a.dpopJkt];
      if (!r) return run(db, INSERT_ACCESS_TOKEN, ...access);
      return run(db, INSERT_ACCESS_AND_REFRESH_TOKENS, ...access,
        r.tokenHash, r.familyId, r.grantId, r.clientId, r.createdAt, r.expiresAt, r.accessTokenHash, r.dpopJkt);
    },
    accessTokenWithServer: (db, tokenHash) => get<H.AccessTokenRow>(db, ACCESS_TOKEN_WITH_SERVER, tokenHash),
    grantById: (db, grantId) => get<H.GrantRow>(db, GRANT_BY_ID, grantId),
    presentedRefreshToken: (db, tokenHash) => get<H.PresentedRefreshRow>(db, PRESENTED_REFRESH_TOKEN, tokenHash),
    refreshToken: (db, tokenHash) => get<H.RefreshRow>(db, REFRESH_TOKEN, tokenHash),
    claimRotation: async (db, tokenHash, replacedBy, now) => (await changes(db, CLAIM_ROTATION, now, replacedBy, tokenHash)) === 1,
    claimSupersession: async (db, tokenHash, now) => (await changes(db, CLAIM_SUPERSESSION, now, tokenHash)) === 1,
    revokeAccessToken: (db, tokenHash, now) => run(db, REVOKE_ACCESS_TOKEN, now, tokenHash),
    repointSuccessor: async (db, tokenHash, successor, replacedBy) =>
      (await changes(db, REPOINT_SUCCESSOR, replacedBy, tokenHash, successor)) === 1,
    machineGrant: (db, clientId) => get<H.MachineGrantRow>(db, MACHINE_GRANT, clientId),
    serverAccess: (db, serverId) => get<H.ServerAccessRow>(db, SERVER_ACCESS, serverId),
    serverToolNames: (db, serverId) => all<H.NamedRow>(db, SERVER_TOOL_NAMES, serverId),
    clientById: (db, clientId) => get<H.ClientRow>(db, CLIENT_BY_ID, clientId),
    clientMetadata: (db, clientId) => pluck<string>(db, CLIENT_METADATA, clientId),
    insertRegisteredClient: (db, r) =>
      run(db, INSERT_REGISTERED_CLIENT, r.id, r.secretHash, r.tokenEndpointAuthMethod, r.clientName, r.clientUri, r.logoUri,
        r.redirectUris, r.metadata, r.createdAt),
    touchClient: (db, clientId, now) => run(db, TOUCH_CLIENT, now, clientId, now - 60_000),
    mcpServer: (db, serverId) => get<H.McpServerRow>(db, MCP_SERVER, serverId),
    grantedTools: (db, grantId, serverId) => all<H.ListedToolRow>(db, GRANTED_TOOLS, grantId, serverId),
    toolByName: (db, grantId, serverId, name) => get<H.ToolByNameRow>(db, TOOL_BY_NAME, grantId, serverId, name),
    toolInputSchema: (db, serverId, name) => pluck<string>(db, TOOL_INPUT_SCHEMA, serverId, name),
    serverUpstream: (db, serverId) => get<H.ServerUpstreamRow>(db, SERVER_UPSTREAM, serverId),
    // One statement, so it is atomic without a transaction of its own.
    recordGrantUses: async (uses) => {
      if (uses.length === 0) return;
      await pool.query(RECORD_GRANT_USES([uses.map((u) => u[0]), uses.map((u) => u[1])]));
    },
    sessionUser: (db, sessionIdHash, userId, now) => get<H.SessionUserRow>(db, SESSION_USER, sessionIdHash, userId, now),
    pendingRequest: (db, requestId) => get<H.PendingRequestRow>(db, PENDING_REQUEST, requestId),
    clientName: (db, clientId) => pluck<string>(db, CLIENT_NAME, clientId),
    serverName: (db, serverId) => pluck<string>(db, SERVER_NAME, serverId),
    ownedServer: (db, serverId, ownerId) => get<H.ConsentServerRow>(db, OWNED_SERVER, serverId, ownerId),
    ownedServers: (db, ownerId) => all<H.NamedRow>(db, OWNED_SERVERS, ownerId),
    consentTools: (db, serverId) => all<H.ConsentToolRow>(db, CONSENT_TOOLS, serverId),
    serverForMetadata: (db, serverId) => get<H.ServerForMetadataRow>(db, SERVER_FOR_METADATA, serverId),
    activityClients: (db, serverId, limit) => all<H.ActivityClientRow>(db, ACTIVITY_CLIENTS, serverId, limit),
  };
}
