/**
 * The hot paths' hand-written SQL, as named async functions. Each dialect implements this
 * interface next to the others in app/db (hot-sqlite.server.ts; a PostgreSQL one beside it), so
 * hand-written SQL lives in app/db only, once per dialect (docs/decisions/051-async-store.md).
 * Each takes the handle it runs on: `ctx.db`, or the `tx` of the store transaction it belongs to.
 */
import type { authorizationRequests, oauthClients, tools } from "./schema";
import type { Db } from "./store.server";

export type ShownOnceRow = { secretEnc: string; expiresAt: number };
export type ClientRow = typeof oauthClients.$inferSelect;
export type ToolRow = typeof tools.$inferSelect;
export type AuthorizationRequestRow = typeof authorizationRequests.$inferSelect;

export type AuditRow = {
  at: number;
  kind: string;
  serverId: string | null;
  userId: string | null;
  clientId: string | null;
  grantId: string | null;
  actor: string | null;
  detail: string;
};

export type AccessTokenInsert = {
  tokenHash: string;
  familyId: string;
  grantId: string;
  clientId: string;
  userId: string;
  serverId: string;
  scope: string;
  createdAt: number;
  expiresAt: number;
  dpopJkt: string | null;
};
export type RefreshTokenInsert = {
  tokenHash: string;
  familyId: string;
  grantId: string;
  clientId: string;
  createdAt: number;
  expiresAt: number;
  accessTokenHash: string;
  dpopJkt: string | null;
};

/** An access token with its server's columns (one statement on every MCP request). */
export type AccessTokenRow = {
  grantId: string;
  familyId: string;
  clientId: string;
  userId: string;
  serverId: string;
  scope: string;
  expiresAt: number;
  revokedAt: number | null;
  dpopJkt: string | null;
  serverDpopRequired: number;
  serverName: string;
  serverDescription: string;
  serverUpdatedAt: number;
  serverToolsVersion: number;
};

export type GrantRow = { id: string; userId: string; clientId: string; serverId: string; scope: string; revokedAt: number | null };
export type MachineGrantRow = { id: string; userId: string; serverId: string; scope: string; revokedAt: number | null };

export type RefreshRow = {
  tokenHash: string;
  familyId: string;
  grantId: string;
  clientId: string;
  expiresAt: number;
  rotatedAt: number | null;
  replacedBy: string | null;
  revokedAt: number | null;
  supersededAt: number | null;
  accessTokenHash: string | null;
  dpopJkt: string | null;
};
/** A presented refresh token with its family's and its grant's state (null columns: no such row). */
export type PresentedRefreshRow = RefreshRow & {
  familyFound: number;
  familyRevokedAt: number | null;
  grantUserId: string | null;
  grantServerId: string | null;
  grantScope: string | null;
  grantRevokedAt: number | null;
};

export type RegisteredClientInsert = {
  id: string;
  secretHash: string | null;
  tokenEndpointAuthMethod: string;
  clientName: string;
  clientUri: string | null;
  logoUri: string | null;
  redirectUris: string;
  metadata: string;
  createdAt: number;
};

export type ServerAccessRow = { id: string; ownerId: string; enterpriseAccess: number; enterpriseTools: string };
export type McpServerRow = { id: string; name: string; description: string; updatedAt: number; toolsVersion: number };
export type ListedToolRow = { name: string; description: string; inputSchema: string; annotations: string | null; outputSchema: string | null };
export type SessionUserRow = { id: string; email: string; name: string | null; role: "owner" | "member" };
export type PendingRequestRow = Omit<AuthorizationRequestRow, "redirectUriProvided"> & { redirectUriProvided: number };
export type NamedRow = { id: string; name: string };
export type ConsentServerRow = { id: string; name: string; description: string };
export type ConsentToolRow = { id: string; name: string; description: string; annotations: string | null };
export type ServerForMetadataRow = { id: string; name: string; dpopRequired: number };
export type ActivityClientRow = { id: string; name: string | null; kind: "registered" | "metadata_document" | null; redirectUris: string | null };
export type ServerUpstreamRow = { signingSecretEnc: string; baseUrl: string | null; apiAuth: string | null; apiSecretEnc: string | null };
/**
 * A tool by name with whether the grant covers it and its server's upstream columns (prefixed
 * `upstream`): a tools/call reads both in one statement.
 */
export type ToolByNameRow = ToolRow & {
  granted: number;
  upstreamSigningSecretEnc: string;
  upstreamBaseUrl: string | null;
  upstreamApiAuth: string | null;
  upstreamApiSecretEnc: string | null;
};

export type RateLimitBucketRow = { milliTokens: number; updatedAt: number };

/** Seconds until the bucket holds a whole request again (at least 1), as both dialects answer a refusal. */
export function secondsUntilToken(bucket: RateLimitBucketRow | undefined, burst: number, perMinute: number, now: number): number {
  const perMs = perMinute / 60_000;
  const elapsed = bucket ? Math.max(0, Math.min(now - bucket.updatedAt, 86_400_000)) : 0;
  const tokens = bucket ? Math.min(burst, bucket.milliTokens / 1000 + elapsed * perMs) : burst;
  return Math.max(1, Math.ceil((1 - tokens) / perMs / 1000));
}

export interface HotSql {
  // Replay guard (decision 050).
  /** Claims `key` until `expiresAt`; true when unclaimed or only claimed by an expired use. */
  claimReplayKey(db: Db, key: string, expiresAt: number, now: number): Promise<boolean>;
  deleteExpiredReplayKeys(db: Db, now: number): Promise<number>;

  // Rate-limit buckets shared by replicas (decision 055).
  /**
   * Takes one request from the token bucket `key` (`burst` requests, refilled at `perMinute`):
   * 0 when allowed, else the seconds until a request would be. One statement when allowed.
   */
  takeRateLimitToken(db: Db, key: string, burst: number, perMinute: number, now: number): Promise<number>;
  /** Deletes buckets untouched since `before` (full again by then). */
  deleteIdleRateLimitBuckets(db: Db, before: number): Promise<number>;

  // Secrets shown once (decision 034).
  insertShownOnce(db: Db, row: { refHash: string; userId: string; purpose: string; secretEnc: string; createdAt: number; expiresAt: number }): Promise<void>;
  /** Deletes the one with this reference, user and purpose, returning it. */
  takeShownOnce(db: Db, refHash: string, userId: string, purpose: string): Promise<ShownOnceRow | undefined>;
  deleteExpiredShownOnce(db: Db, now: number): Promise<number>;

  // Audit.
  insertAuditEvent(db: Db, row: AuditRow): Promise<void>;

  // Tokens.
  insertTokens(db: Db, access: AccessTokenInsert, refresh: RefreshTokenInsert | null): Promise<void>;
  accessTokenWithServer(db: Db, tokenHash: string): Promise<AccessTokenRow | undefined>;

  // Token grants.
  grantById(db: Db, grantId: string): Promise<GrantRow | undefined>;
  presentedRefreshToken(db: Db, tokenHash: string): Promise<PresentedRefreshRow | undefined>;
  refreshToken(db: Db, tokenHash: string): Promise<RefreshRow | undefined>;
  /** Marks a live token rotated to `replacedBy`; false when it was no longer live. */
  claimRotation(db: Db, tokenHash: string, replacedBy: string, now: number): Promise<boolean>;
  /** Revokes a live successor as superseded; false when it was no longer live. */
  claimSupersession(db: Db, tokenHash: string, now: number): Promise<boolean>;
  revokeAccessToken(db: Db, tokenHash: string, now: number): Promise<void>;
  /** Points `tokenHash` from `successor` to `replacedBy`; false when it no longer pointed there. */
  repointSuccessor(db: Db, tokenHash: string, successor: string, replacedBy: string): Promise<boolean>;
  machineGrant(db: Db, clientId: string): Promise<MachineGrantRow | undefined>;
  serverAccess(db: Db, serverId: string): Promise<ServerAccessRow | undefined>;
  serverToolNames(db: Db, serverId: string): Promise<NamedRow[]>;

  // Clients.
  clientById(db: Db, clientId: string): Promise<ClientRow | undefined>;
  clientMetadata(db: Db, clientId: string): Promise<string | undefined>;
  insertRegisteredClient(db: Db, row: RegisteredClientInsert): Promise<void>;
  /** Marks a client as used unless it was within the last minute. */
  touchClient(db: Db, clientId: string, now: number): Promise<void>;

  // MCP endpoint.
  mcpServer(db: Db, serverId: string): Promise<McpServerRow | undefined>;
  grantedTools(db: Db, grantId: string, serverId: string): Promise<ListedToolRow[]>;
  toolByName(db: Db, grantId: string, serverId: string, name: string): Promise<ToolByNameRow | undefined>;
  toolInputSchema(db: Db, serverId: string, name: string): Promise<string | undefined>;
  serverUpstream(db: Db, serverId: string): Promise<ServerUpstreamRow | undefined>;
  /** Writes batched grant uses (max of the stored and the noted time), in one transaction. */
  recordGrantUses(uses: [grantId: string, at: number][]): Promise<void>;

  // Pages.
  sessionUser(db: Db, sessionIdHash: string, userId: string, now: number): Promise<SessionUserRow | undefined>;
  pendingRequest(db: Db, requestId: string): Promise<PendingRequestRow | undefined>;
  clientName(db: Db, clientId: string): Promise<string | undefined>;
  serverName(db: Db, serverId: string): Promise<string | undefined>;
  ownedServer(db: Db, serverId: string, ownerId: string): Promise<ConsentServerRow | undefined>;
  ownedServers(db: Db, ownerId: string): Promise<NamedRow[]>;
  consentTools(db: Db, serverId: string): Promise<ConsentToolRow[]>;
  serverForMetadata(db: Db, serverId: string): Promise<ServerForMetadataRow | undefined>;
  activityClients(db: Db, serverId: string, limit: number): Promise<ActivityClientRow[]>;
}
