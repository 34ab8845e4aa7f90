/**
 * The SQLite implementation of the hot paths' hand-written SQL (app/db/hot.server.ts): statements
 * prepared once per connection, run through the connection's gate so that they never join
 * another request's open transaction. The `db` argument names the transaction a statement belongs
 * to: a transaction's handle runs it in that transaction, the store's own handle outside every one.
 */
import type * as H from "./hot.server";
import { secondsUntilToken } from "./hot.server";
import type { SqliteConnection } from "./sqlite-store.server";

// Replay guard (decision 050): the check and the claim are one write.
const CLAIM_REPLAY_KEY = `insert into replay_guard (key, expires_at) values (?, ?)
   on conflict (key) do update set expires_at = excluded.expires_at where replay_guard.expires_at <= ?`;
const DELETE_EXPIRED_REPLAY_KEYS = "delete from replay_guard where expires_at <= ?";

const INSERT_SHOWN_ONCE =
  "insert into shown_once_secrets (ref_hash, user_id, purpose, secret_enc, created_at, expires_at) values (?, ?, ?, ?, ?, ?)";
const TAKE_SHOWN_ONCE = `delete from shown_once_secrets where ref_hash = ? and user_id = ? and purpose = ?
   returning secret_enc as secretEnc, expires_at as expiresAt`;
const DELETE_EXPIRED_SHOWN_ONCE = "delete from shown_once_secrets where expires_at <= ?";

const INSERT_AUDIT_EVENT =
  "insert into audit_events (at, kind, server_id, user_id, client_id, grant_id, actor, detail) values (?, ?, ?, ?, ?, ?, ?, ?)";

const INSERT_ACCESS_TOKEN = `insert into access_tokens (token_hash, family_id, grant_id, client_id, user_id, server_id, scope, created_at, expires_at, dpop_jkt)
   values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
const INSERT_REFRESH_TOKEN = `insert into refresh_tokens (token_hash, family_id, grant_id, client_id, created_at, expires_at, access_token_hash, dpop_jkt)
   values (?, ?, ?, ?, ?, ?, ?, ?)`;

// The bearer check runs on every MCP request: one primary-key read. The token's server comes with
// it (a second primary-key lookup in the same statement), so the endpoint needs no read of its own.
const ACCESS_TOKEN_WITH_SERVER = `select a.grant_id as grantId, a.family_id as familyId, a.client_id as clientId, a.user_id as userId,
        a.server_id as serverId, a.scope, a.expires_at as expiresAt, a.revoked_at as revokedAt, a.dpop_jkt as dpopJkt,
        s.dpop_required as serverDpopRequired,
        s.name as serverName, s.description as serverDescription, s.updated_at as serverUpdatedAt,
        s.tools_version as serverToolsVersion
   from access_tokens a join mcp_servers s on s.id = a.server_id
  where a.token_hash = ?`;

const GRANT_BY_ID =
  "select id, user_id as userId, client_id as clientId, server_id as serverId, scope, revoked_at as revokedAt from grants where id = ?";
const REFRESH_TOKEN = `select token_hash as tokenHash, family_id as familyId, grant_id as grantId, client_id as clientId,
         expires_at as expiresAt, rotated_at as rotatedAt, replaced_by as replacedBy, revoked_at as revokedAt,
         superseded_at as supersededAt, access_token_hash as accessTokenHash, dpop_jkt as dpopJkt
    from refresh_tokens where token_hash = ?`;
// Each join is a primary-key lookup (token_families.id, grants.id): checked with EXPLAIN QUERY PLAN
// in tests/integration/oauth-token-cost.test.ts.
export const PRESENTED_REFRESH_TOKEN = `select r.token_hash as tokenHash, r.family_id as familyId, r.grant_id as grantId, r.client_id as clientId,
         r.expires_at as expiresAt, r.rotated_at as rotatedAt, r.replaced_by as replacedBy, r.revoked_at as revokedAt,
         r.superseded_at as supersededAt, r.access_token_hash as accessTokenHash, r.dpop_jkt as dpopJkt,
         f.id is not null as familyFound, f.revoked_at as familyRevokedAt,
         g.user_id as grantUserId, g.server_id as grantServerId, g.scope as grantScope, g.revoked_at as grantRevokedAt
    from refresh_tokens r
    left join token_families f on f.id = r.family_id
    left join grants g on g.id = r.grant_id
   where r.token_hash = ?`;
// The conditional writes of a rotation: each changes its row only from the state the decision was
// made on, so two requests (on one connection here, or on several) can never both win it.
const CLAIM_ROTATION = `update refresh_tokens set rotated_at = ?, replaced_by = ?
   where token_hash = ? and rotated_at is null and revoked_at is null`;
const CLAIM_SUPERSESSION = `update refresh_tokens set revoked_at = ?, superseded_at = ?
   where token_hash = ? and rotated_at is null and revoked_at is null`;
const REPOINT_SUCCESSOR = `update refresh_tokens set replaced_by = ?
   where token_hash = ? and replaced_by = ? and revoked_at is null`;
const REVOKE_ACCESS_TOKEN = "update access_tokens set revoked_at = ? where token_hash = ? and revoked_at is null";
const MACHINE_GRANT =
  "select id, user_id as userId, server_id as serverId, scope, revoked_at as revokedAt from grants where client_id = ? and source = 'machine'";
const SERVER_ACCESS =
  "select id, owner_id as ownerId, enterprise_access as enterpriseAccess, enterprise_tools as enterpriseTools from mcp_servers where id = ?";
const SERVER_TOOL_NAMES = "select id, name from tools where server_id = ?";

// Every column of oauth_clients under its schema name (hot: /token).
const CLIENT_BY_ID = `select id, kind, secret_hash as secretHash, token_endpoint_auth_method as tokenEndpointAuthMethod,
       client_name as clientName, client_uri as clientUri, logo_uri as logoUri, redirect_uris as redirectUris,
       metadata, created_at as createdAt, last_used_at as lastUsedAt, expires_at as expiresAt
  from oauth_clients where id = ?`;
const CLIENT_METADATA = "select metadata from oauth_clients where id = ?";
const INSERT_REGISTERED_CLIENT = `insert into oauth_clients (id, kind, secret_hash, token_endpoint_auth_method, client_name, client_uri, logo_uri,
                                  redirect_uris, metadata, created_at, last_used_at)
       values (?, 'registered', ?, ?, ?, ?, ?, ?, ?, ?, null)`;
const TOUCH_CLIENT = "update oauth_clients set last_used_at = ? where id = ? and (last_used_at is null or last_used_at < ?)";

const MCP_SERVER = "select id, name, description, updated_at as updatedAt, tools_version as toolsVersion from mcp_servers where id = ?";
// The grant names the tools the user approved (per-tool consent); tools/list shows only those.
const GRANTED_TOOLS = `select t.name, t.description, t.input_schema as inputSchema, t.annotations,
        t.output_schema as outputSchema
   from grant_tools gt join tools t on t.id = gt.tool_id
  where gt.grant_id = ? and t.server_id = ?
  order by t.name`; // byte-wise (BINARY collation): the same order on every process and request
const TOOL_BY_NAME = `select t.id, t.server_id as serverId, t.name, t.description, t.input_schema as inputSchema,
        t.endpoint_url as endpointUrl, t.endpoint_method as endpointMethod,
        t.endpoint_headers_enc as endpointHeadersEnc, t.endpoint_params as endpointParams,
        t.annotations, t.output_schema as outputSchema, t.imported_from as importedFrom, t.created_at as createdAt,
        t.updated_at as updatedAt,
        exists(select 1 from grant_tools gt where gt.grant_id = ? and gt.tool_id = t.id) as granted,
        s.signing_secret_enc as upstreamSigningSecretEnc, s.base_url as upstreamBaseUrl, s.api_auth as upstreamApiAuth,
        s.api_secret_enc as upstreamApiSecretEnc
   from tools t join mcp_servers s on s.id = t.server_id
  where t.server_id = ? and t.name = ?`;
const TOOL_INPUT_SCHEMA = "select input_schema as inputSchema from tools where server_id = ? and name = ?";
const SERVER_UPSTREAM = `select signing_secret_enc as signingSecretEnc, base_url as baseUrl, api_auth as apiAuth,
        api_secret_enc as apiSecretEnc
   from mcp_servers where id = ?`;
// max(): a late flush never moves the time backwards.
const RECORD_GRANT_USE = "update grants set last_used_at = max(coalesce(last_used_at, 0), ?) where id = ?";

// Every page runs it (the query builder would prepare it anew each time).
const SESSION_USER = `select u.id as id, u.email as email, u.name as name, u.role as role
  from sessions s join users u on u.id = s.user_id
  where s.id = ? and s.user_id = ? and s.expires_at > ?`;
// The consent page reads it on every load; columns as Drizzle names them.
const PENDING_REQUEST = `select id, client_id as clientId, redirect_uri as redirectUri,
       redirect_uri_provided as redirectUriProvided, state, code_challenge as codeChallenge, scope, resource,
       server_id as serverId, created_at as createdAt, expires_at as expiresAt, completed_at as completedAt
  from authorization_requests where id = ?`;
const CLIENT_NAME = "select client_name as name from oauth_clients where id = ?";
const SERVER_NAME = "select name from mcp_servers where id = ?";
const OWNED_SERVER = "select id, name, description from mcp_servers where id = ? and owner_id = ?";
const OWNED_SERVERS = "select id, name from mcp_servers where owner_id = ? order by name";
const CONSENT_TOOLS = "select id, name, description, annotations from tools where server_id = ? order by name";
const SERVER_FOR_METADATA = "select id, name, dpop_required as dpopRequired from mcp_servers where id = ?";
// The distinct clients of a server's events by skipping through audit_events_server_client_idx:
// one index seek per client instead of a scan of every event.
const ACTIVITY_CLIENTS = `with recursive c(id) as (
  select (select min(client_id) from audit_events where server_id = @serverId and client_id is not null)
  union all
  select (select min(client_id) from audit_events where server_id = @serverId and client_id > c.id) from c where c.id is not null
)
select c.id as id, oc.client_name as name, oc.kind as kind, oc.redirect_uris as redirectUris
  from c left join oauth_clients oc on oc.id = c.id where c.id is not null limit @limit`;

// A token bucket in thousandths of a request: refilled by the elapsed milliseconds (at most a day's,
// never negative) times perMinute / 60; one upsert that only writes when a whole request is there.
const TAKE_RATE_LIMIT_TOKEN = `insert into rate_limit_buckets as b (key, milli_tokens, updated_at) values (@key, @burst - 1000, @now)
  on conflict (key) do update
     set milli_tokens = min(@burst, b.milli_tokens + max(0, min(@now - b.updated_at, 86400000)) * @perMinute / 60) - 1000,
         updated_at = max(b.updated_at, @now)
   where min(@burst, b.milli_tokens + max(0, min(@now - b.updated_at, 86400000)) * @perMinute / 60) >= 1000
  returning milli_tokens as milliTokens`;
const RATE_LIMIT_BUCKET = "select milli_tokens as milliTokens, updated_at as updatedAt from rate_limit_buckets where key = ?";
const DELETE_IDLE_RATE_LIMIT_BUCKETS = "delete from rate_limit_buckets where updated_at < ?";

export function sqliteHotSql(c: SqliteConnection): H.HotSql {
  type Handle = object | undefined;
  const get = <R>(db: Handle, sql: string, ...params: unknown[]) => c.run(db, () => c.reader<R>(sql).get(...params));
  const all = <R>(db: Handle, sql: string, ...params: unknown[]) => c.run(db, () => c.reader<R>(sql).all(...params));
  const changes = (db: Handle, sql: string, ...params: unknown[]) => c.run(db, () => c.statement(sql).run(...params).changes);
  const run = (db: Handle, sql: string, ...params: unknown[]) =>
    c.run(db, () => {
      c.statement(sql).run(...params);
    });
  const pluck = async <R>(db: Handle, sql: string, ...params: unknown[]) => {
    const row = await get<Record<string, R>>(db, sql, ...params);
    return row ? Object.values(row)[0] : undefined;
  };
  return {
    takeRateLimitToken: async (db, key, burst, perMinute, now) => {
      if (await get(db, TAKE_RATE_LIMIT_TOKEN, { key, burst: burst * 1000, now, perMinute })) return 0;
      return secondsUntilToken(await get<H.RateLimitBucketRow>(db, RATE_LIMIT_BUCKET, key), burst, perMinute, now);
    },
    deleteIdleRateLimitBuckets: (db, before) => changes(db, DELETE_IDLE_RATE_LIMIT_BUCKETS, before),
    claimReplayKey: async (db, key, expiresAt, now) => (await changes(db, CLAIM_REPLAY_KEY, key, expiresAt, now)) === 1,
    deleteExpiredReplayKeys: (db, now) => changes(db, DELETE_EXPIRED_REPLAY_KEYS, now),
    insertShownOnce: (db, r) => run(db, INSERT_SHOWN_ONCE, r.refHash, r.userId, r.purpose, r.secretEnc, r.createdAt, r.expiresAt),
    takeShownOnce: (db, refHash, userId, purpose) => get(db, TAKE_SHOWN_ONCE, refHash, userId, purpose),
    deleteExpiredShownOnce: (db, now) => changes(db, DELETE_EXPIRED_SHOWN_ONCE, now),
    insertAuditEvent: (db, e) => run(db, INSERT_AUDIT_EVENT, e.at, e.kind, e.serverId, e.userId, e.clientId, e.grantId, e.actor, e.detail),
    insertTokens: (db, a, r) =>
      c.run(db, () => {
        c.statement(INSERT_ACCESS_TOKEN).run(a.tokenHash, a.familyId, a.grantId, a.clientId, a.userId, a.serverId, a.scope, a.createdAt, a.expiresAt, a.dpopJkt);
        if (r) c.statement(INSERT_REFRESH_TOKEN).run(r.tokenHash, r.familyId, r.grantId, r.clientId, r.createdAt, r.expiresAt, r.accessTokenHash, r.dpopJkt);
      }),
    accessTokenWithServer: (db, tokenHash) => get(db, ACCESS_TOKEN_WITH_SERVER, tokenHash),
    grantById: (db, grantId) => get(db, GRANT_BY_ID, grantId),
    presentedRefreshToken: (db, tokenHash) => get(db, PRESENTED_REFRESH_TOKEN, tokenHash),
    refreshToken: (db, tokenHash) => get(db, REFRESH_TOKEN, tokenHash),
    claimRotation: async (db, tokenHash, replacedBy, now) => (await changes(db, CLAIM_ROTATION, now, replacedBy, tokenHash)) === 1,
    claimSupersession: async (db, tokenHash, now) => (await changes(db, CLAIM_SUPERSESSION, now, now, tokenHash)) === 1,
    revokeAccessToken: (db, tokenHash, now) => run(db, REVOKE_ACCESS_TOKEN, now, tokenHash),
    repointSuccessor: async (db, tokenHash, successor, replacedBy) => (await changes(db, REPOINT_SUCCESSOR, replacedBy, tokenHash, successor)) === 1,
    machineGrant: (db, clientId) => get(db, MACHINE_GRANT, clientId),
    serverAccess: (db, serverId) => get(db, SERVER_ACCESS, serverId),
    serverToolNames: (db, serverId) => all(db, SERVER_TOOL_NAMES, serverId),
    clientById: (db, clientId) => get(db, CLIENT_BY_ID, clientId),
    clientMetadata: (db, clientId) => pluck(db, CLIENT_METADATA, clientId),
    insertRegisteredClient: (db, r) =>
      run(db, INSERT_REGISTERED_CLIENT, r.id, r.secretHash, r.tokenEndpointAuthMethod, r.clientName, r.clientUri, r.logoUri, r.redirectUris, r.metadata, r.createdAt),
    touchClient: (db, clientId, now) => run(db, TOUCH_CLIENT, now, clientId, now - 60_000),
    mcpServer: (db, serverId) => get(db, MCP_SERVER, serverId),
    grantedTools: (db, grantId, serverId) => all(db, GRANTED_TOOLS, grantId, serverId),
    toolByName: (db, grantId, serverId, name) => get(db, TOOL_BY_NAME, grantId, serverId, name),
    toolInputSchema: (db, serverId, name) => pluck(db, TOOL_INPUT_SCHEMA, serverId, name),
    serverUpstream: (db, serverId) => get(db, SERVER_UPSTREAM, serverId),
    recordGrantUses: (uses) =>
      c.atomically(() => {
        const update = c.statement(RECORD_GRANT_USE);
        for (const [grantId, at] of uses) update.run(at, grantId);
      }),
    sessionUser: (db, sessionIdHash, userId, now) => get(db, SESSION_USER, sessionIdHash, userId, now),
    pendingRequest: (db, requestId) => get(db, PENDING_REQUEST, requestId),
    clientName: (db, clientId) => pluck(db, CLIENT_NAME, clientId),
    serverName: (db, serverId) => pluck(db, SERVER_NAME, serverId),
    ownedServer: (db, serverId, ownerId) => get(db, OWNED_SERVER, serverId, ownerId),
    ownedServers: (db, ownerId) => all(db, OWNED_SERVERS, ownerId),
    consentTools: (db, serverId) => all(db, CONSENT_TOOLS, serverId),
    serverForMetadata: (db, serverId) => get(db, SERVER_FOR_METADATA, serverId),
    activityClients: (db, serverId, limit) => all(db, ACTIVITY_CLIENTS, { serverId, limit }),
  };
}
