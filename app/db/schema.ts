/**
 * The whole schema. Times are integers in milliseconds since the epoch (UTC).
 * Columns ending in `_hash` hold SHA-256 hashes of secrets; the secrets themselves are never stored.
 * Columns ending in `_enc` hold values encrypted with the data-dir key (AES-256-GCM), because the
 * server must be able to use them (tool signing secrets, tool endpoint headers).
 * docs/storage.md describes every table.
 */
import { sql } from "drizzle-orm";
import {
  index,
  integer,
  primaryKey,
  blob,
  sqliteTable,
  text,
  uniqueIndex,
} from "drizzle-orm/sqlite-core";

export const users = sqliteTable(
  "users",
  {
    id: text("id").primaryKey(),
    email: text("email").notNull(),
    name: text("name"),
    /** scrypt hash in PHC-like form; null for accounts that only sign in through a provider. */
    passwordHash: text("password_hash"),
    role: text("role", { enum: ["owner", "member"] }).notNull().default("member"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [uniqueIndex("users_email_unique").on(t.email)],
);

/** Identities at external providers (GitHub, Google, OpenID Connect) linked to a user. */
export const identities = sqliteTable(
  "identities",
  {
    id: text("id").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    provider: text("provider").notNull(),
    subject: text("subject").notNull(),
    email: text("email"),
    createdAt: integer("created_at").notNull(),
    lastSignInAt: integer("last_sign_in_at"),
  },
  (t) => [
    uniqueIndex("identities_provider_subject_unique").on(t.provider, t.subject),
    index("identities_user_idx").on(t.userId),
  ],
);

/** Emails the owner invited; a provider sign-in with that verified email may create the account. */
export const invitations = sqliteTable("invitations", {
  email: text("email").primaryKey(),
  invitedBy: text("invited_by").references(() => users.id, { onDelete: "set null" }),
  createdAt: integer("created_at").notNull(),
});

/** Cookie sessions. The cookie holds only the id; revoking a row signs the browser out. */
export const sessions = sqliteTable(
  "sessions",
  {
    id: text("id").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
  },
  (t) => [index("sessions_user_idx").on(t.userId)],
);

/**
 * A secret to be shown once on the page a redirect leads to (a new signing secret): encrypted with
 * the data key, keyed by the hash of a random reference that only the browser's flash carries,
 * deleted when read, refused after `expires_at` (docs/decisions/034-secrets-shown-once.md).
 */
export const shownOnceSecrets = sqliteTable(
  "shown_once_secrets",
  {
    refHash: text("ref_hash").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /** What the secret is for, e.g. "signing_secret:<server id>"; read back only for the same purpose. */
    purpose: text("purpose").notNull(),
    secretEnc: text("secret_enc").notNull(),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
  },
  (t) => [index("shown_once_secrets_expires_idx").on(t.expiresAt)],
);

/** Failed sign-in counters, keyed by "account:<email>" or "address:<ip>". */
export const signInThrottle = sqliteTable("sign_in_throttle", {
  key: text("key").primaryKey(),
  failures: integer("failures").notNull(),
  firstFailureAt: integer("first_failure_at").notNull(),
  blockedUntil: integer("blocked_until").notNull(),
});

export const mcpServers = sqliteTable(
  "mcp_servers",
  {
    id: text("id").primaryKey(),
    ownerId: text("owner_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    description: text("description").notNull().default(""),
    signingSecretEnc: text("signing_secret_enc").notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    /**
     * Bumped by database triggers (drizzle/0002_tools_version_triggers.sql) whenever a tool of this
     * server or a grant's tool list for it changes, by any process: the MCP endpoint's cached
     * tools/list answers are keyed by it, so none outlives a change.
     */
    toolsVersion: integer("tools_version").notNull().default(0),
    /** The owner requires DPoP-bound tokens (RFC 9449) for this server: plain bearer tokens are refused. */
    dpopRequired: integer("dpop_required", { mode: "boolean" }).notNull().default(false),
    /** The owner accepts enterprise-managed connections (ID-JAG grants) for this server; off by default. */
    enterpriseAccess: integer("enterprise_access", { mode: "boolean" }).notNull().default(false),
    /** JSON array of the tool names an enterprise-managed connection may call. */
    enterpriseTools: text("enterprise_tools").notNull().default("[]"),
    /**
     * The upstream REST API's base URL: tool endpoints written as a path ("/orders/{orderId}")
     * are resolved against it, and API credentials are only ever sent to it (decision 043).
     */
    baseUrl: text("base_url"),
    /** How the API credential is sent, as JSON without the secret ({type, in?, name?, username?}). */
    apiAuth: text("api_auth"),
    /** The API credential's secret (key, token or password), encrypted. */
    apiSecretEnc: text("api_secret_enc"),
  },
  (t) => [index("mcp_servers_owner_idx").on(t.ownerId)],
);

export const tools = sqliteTable(
  "tools",
  {
    id: text("id").primaryKey(),
    serverId: text("server_id")
      .notNull()
      .references(() => mcpServers.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    description: text("description").notNull().default(""),
    /** JSON Schema object, as JSON text. */
    inputSchema: text("input_schema").notNull(),
    endpointUrl: text("endpoint_url").notNull(),
    endpointMethod: text("endpoint_method").notNull().default("POST"),
    /** Extra request headers as encrypted JSON ({} when none); they may carry credentials. */
    endpointHeadersEnc: text("endpoint_headers_enc"),
    /**
     * Where each argument goes (path, query, header, body) as JSON; null for tools that send all
     * arguments as the JSON body (every tool made before the REST mapping existed).
     */
    endpointParams: text("endpoint_params"),
    /** MCP tool annotations (title, readOnlyHint, ...) as JSON, or null. */
    annotations: text("annotations"),
    /** JSON Schema of structured results, as JSON text, or null. */
    outputSchema: text("output_schema"),
    /** "METHOD /path" of the OpenAPI operation the tool was imported from; null for hand-made tools. */
    importedFrom: text("imported_from"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [uniqueIndex("tools_server_name_unique").on(t.serverId, t.name)],
);

/**
 * An OpenAPI document uploaded for import, kept while its owner previews and picks operations
 * (a preview page is a plain GET, so the document must live somewhere between requests).
 */
export const openapiDrafts = sqliteTable(
  "openapi_drafts",
  {
    id: text("id").primaryKey(),
    serverId: text("server_id")
      .notNull()
      .references(() => mcpServers.id, { onDelete: "cascade" }),
    /** The document as received (JSON or YAML text). */
    document: text("document").notNull(),
    /** Where it came from: a URL, a file name, or "pasted". */
    source: text("source").notNull(),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
  },
  (t) => [index("openapi_drafts_server_idx").on(t.serverId)],
);

/**
 * OAuth clients: dynamically registered (RFC 7591), Client ID Metadata Documents (the client id is
 * an https URL; the row caches the fetched document until `expires_at`), or machine clients an
 * owner created for one server (client_credentials; `metadata` holds their jwks or jwks_uri).
 */
export const oauthClients = sqliteTable(
  "oauth_clients",
  {
    id: text("id").primaryKey(),
    kind: text("kind", { enum: ["registered", "metadata_document", "machine"] }).notNull(),
    secretHash: text("secret_hash"),
    tokenEndpointAuthMethod: text("token_endpoint_auth_method").notNull().default("none"),
    clientName: text("client_name").notNull(),
    clientUri: text("client_uri"),
    logoUri: text("logo_uri"),
    /** The logo Toolgate fetched from logo_uri (metadata-document clients only): client_logos.digest. */
    logoDigest: text("logo_digest"),
    /** JSON array of strings. */
    redirectUris: text("redirect_uris").notNull(),
    /** The full validated metadata as JSON, returned from registration. */
    metadata: text("metadata").notNull(),
    createdAt: integer("created_at").notNull(),
    lastUsedAt: integer("last_used_at"),
    /** For metadata-document clients: when the cached document must be fetched again. */
    expiresAt: integer("expires_at"),
  },
  (t) => [index("oauth_clients_kind_last_used_idx").on(t.kind, t.lastUsedAt)],
);

/** A validated, pending authorization request: the row the consent page loader reads. */
export const authorizationRequests = sqliteTable(
  "authorization_requests",
  {
    id: text("id").primaryKey(),
    clientId: text("client_id").notNull(),
    redirectUri: text("redirect_uri").notNull(),
    /** Whether the request carried redirect_uri explicitly (then /token must repeat it). */
    redirectUriProvided: integer("redirect_uri_provided", { mode: "boolean" }).notNull(),
    state: text("state"),
    codeChallenge: text("code_challenge").notNull(),
    scope: text("scope").notNull(),
    /** The RFC 8707 resource as sent; null when absent (the user then picks a server). */
    resource: text("resource"),
    serverId: text("server_id").references(() => mcpServers.id, { onDelete: "cascade" }),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
    /** Set when Approve or Deny was processed; a request is answered once. */
    completedAt: integer("completed_at"),
  },
  (t) => [index("authorization_requests_expires_idx").on(t.expiresAt)],
);

/** What "connected application" means: a user let a client reach one MCP server. */
export const grants = sqliteTable(
  "grants",
  {
    id: text("id").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    clientId: text("client_id")
      .notNull()
      .references(() => oauthClients.id, { onDelete: "cascade" }),
    serverId: text("server_id")
      .notNull()
      .references(() => mcpServers.id, { onDelete: "cascade" }),
    scope: text("scope").notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    lastUsedAt: integer("last_used_at"),
    revokedAt: integer("revoked_at"),
    revokedBy: text("revoked_by"),
    /**
     * How the grant came to be: the user approved a consent screen, the owner created a machine
     * client (client_credentials), or an enterprise IdP asserted the user (ID-JAG grant).
     */
    source: text("source", { enum: ["consent", "machine", "enterprise"] }).notNull().default("consent"),
  },
  (t) => [
    index("grants_server_idx").on(t.serverId),
    index("grants_user_client_server_idx").on(t.userId, t.clientId, t.serverId),
  ],
);

/** The tools a grant covers. Deleting a tool removes it from every grant. */
export const grantTools = sqliteTable(
  "grant_tools",
  {
    grantId: text("grant_id")
      .notNull()
      .references(() => grants.id, { onDelete: "cascade" }),
    toolId: text("tool_id")
      .notNull()
      .references(() => tools.id, { onDelete: "cascade" }),
  },
  (t) => [primaryKey({ columns: [t.grantId, t.toolId] }), index("grant_tools_tool_idx").on(t.toolId)],
);

export const authorizationCodes = sqliteTable(
  "authorization_codes",
  {
    codeHash: text("code_hash").primaryKey(),
    grantId: text("grant_id")
      .notNull()
      .references(() => grants.id, { onDelete: "cascade" }),
    clientId: text("client_id").notNull(),
    userId: text("user_id").notNull(),
    serverId: text("server_id").notNull(),
    redirectUri: text("redirect_uri").notNull(),
    redirectUriProvided: integer("redirect_uri_provided", { mode: "boolean" }).notNull(),
    codeChallenge: text("code_challenge").notNull(),
    scope: text("scope").notNull(),
    resource: text("resource").notNull(),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
    usedAt: integer("used_at"),
    /** The token family the code was exchanged for; a replay revokes it (RFC 6749 §10.5). */
    familyId: text("family_id"),
  },
  (t) => [index("authorization_codes_expires_idx").on(t.expiresAt)],
);

/** One family per code exchange: the refresh-token chain of one client installation. */
export const tokenFamilies = sqliteTable(
  "token_families",
  {
    id: text("id").primaryKey(),
    grantId: text("grant_id")
      .notNull()
      .references(() => grants.id, { onDelete: "cascade" }),
    createdAt: integer("created_at").notNull(),
    revokedAt: integer("revoked_at"),
    revokedReason: text("revoked_reason"),
  },
  (t) => [index("token_families_grant_idx").on(t.grantId)],
);

export const accessTokens = sqliteTable(
  "access_tokens",
  {
    tokenHash: text("token_hash").primaryKey(),
    familyId: text("family_id")
      .notNull()
      .references(() => tokenFamilies.id, { onDelete: "cascade" }),
    grantId: text("grant_id").notNull(),
    clientId: text("client_id").notNull(),
    userId: text("user_id").notNull(),
    serverId: text("server_id").notNull(),
    scope: text("scope").notNull(),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
    revokedAt: integer("revoked_at"),
    /** RFC 9449 cnf.jkt: the thumbprint of the DPoP key the token is bound to; null for a bearer token. */
    dpopJkt: text("dpop_jkt"),
  },
  (t) => [
    index("access_tokens_family_idx").on(t.familyId),
    index("access_tokens_expires_idx").on(t.expiresAt),
  ],
);

export const refreshTokens = sqliteTable(
  "refresh_tokens",
  {
    tokenHash: text("token_hash").primaryKey(),
    familyId: text("family_id")
      .notNull()
      .references(() => tokenFamilies.id, { onDelete: "cascade" }),
    grantId: text("grant_id").notNull(),
    clientId: text("client_id").notNull(),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
    /** Set when this token was exchanged for a new one (rotation). */
    rotatedAt: integer("rotated_at"),
    /** Hash of the token that replaced it: the one live successor (a grace retry re-points it). */
    replacedBy: text("replaced_by"),
    revokedAt: integer("revoked_at"),
    /**
     * Set (with revoked_at) when a retry of its predecessor inside the grace window replaced this
     * never-used token; presenting it afterwards is reuse (docs/decisions/004).
     */
    supersededAt: integer("superseded_at"),
    /** Hash of the access token issued together with it, revoked with it when it is superseded. */
    accessTokenHash: text("access_token_hash"),
    /** RFC 9449 §5: a public client's refresh token is bound to its DPoP key; null when unbound. */
    dpopJkt: text("dpop_jkt"),
  },
  (t) => [
    index("refresh_tokens_family_idx").on(t.familyId),
    index("refresh_tokens_expires_idx").on(t.expiresAt),
  ],
);

export const auditEvents = sqliteTable(
  "audit_events",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    at: integer("at").notNull(),
    kind: text("kind").notNull(),
    serverId: text("server_id"),
    userId: text("user_id"),
    clientId: text("client_id"),
    grantId: text("grant_id"),
    /** Who did it: a user id, "client:<id>" or "system". */
    actor: text("actor"),
    /** JSON object with event details; never arguments or secrets. */
    detail: text("detail").notNull().default(sql`'{}'`),
  },
  // The Activity page reads one page of a server's events newest first, optionally of one kind or
  // one client: each index below is (server_id[, column], rowid), so every such page is read in
  // index order whatever the number of events (clients make as many as they call tools).
  (t) => [
    index("audit_events_server_idx").on(t.serverId),
    index("audit_events_server_kind_idx").on(t.serverId, t.kind),
    index("audit_events_server_client_idx").on(t.serverId, t.clientId),
    index("audit_events_at_idx").on(t.at),
  ],
);

/**
 * Logos of metadata-document clients, fetched by Toolgate, checked to be a raster image and served
 * from its own origin at /client-logos/<digest> (never hot-linked). Keyed by the SHA-256 of the bytes,
 * so clients publishing the same image share one row. Rows no client points to are pruned.
 */
export const clientLogos = sqliteTable("client_logos", {
  digest: text("digest").primaryKey(),
  /** The sniffed type: image/png, image/jpeg, image/gif or image/webp. */
  contentType: text("content_type").notNull(),
  bytes: blob("bytes", { mode: "buffer" }).notNull(),
  createdAt: integer("created_at").notNull(),
});

/**
 * One-time values seen before (client assertion, ID-JAG and DPoP proof `jti`s): a key is claimed
 * by inserting it; a second insert of a live key fails, on any replica sharing the database.
 * Rows are useless once `expires_at` passed (the value itself is refused as expired then).
 */
export const replayGuard = sqliteTable(
  "replay_guard",
  {
    key: text("key").primaryKey(),
    expiresAt: integer("expires_at").notNull(),
  },
  (t) => [index("replay_guard_expires_idx").on(t.expiresAt)],
);
