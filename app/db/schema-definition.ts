/**
 * The whole schema. Times are integers in milliseconds since the epoch (UTC).
 * Columns ending in `_hash` hold SHA-256 hashes of secrets; the secrets themselves are never stored.
 * Columns ending in `_enc` hold values encrypted with the data-dir key (AES-256-GCM), because the
 * server must be able to use them (tool signing secrets, tool endpoint headers).
 * docs/storage.md describes every table.
 */
import { sql } from "drizzle-orm";
import type { SchemaColumns } from "./columns";

/**
 * Written once over per-dialect column helpers (app/db/columns.ts for SQLite, the instance the
 * TypeScript types come from; app/db/columns-postgres.ts for PostgreSQL), so both stores have the
 * same tables, columns, keys and indexes (docs/decisions/052-one-schema-two-dialects.md).
 */
export function defineSchema(h: SchemaColumns) {
  const users = h.table(
    "users",
    {
      id: h.text("id").primaryKey(),
      email: h.text("email").notNull(),
      name: h.text("name"),
      /** scrypt hash in PHC-like form; null for accounts that only sign in through a provider. */
      passwordHash: h.text("password_hash"),
      role: h
        .text("role", { enum: ["owner", "member"] })
        .notNull()
        .default("member"),
      createdAt: h.integer("created_at").notNull(),
      updatedAt: h.integer("updated_at").notNull(),
    },
    (t) => [h.uniqueIndex("users_email_unique").on(t.email)],
  );

  /** Identities at external providers (GitHub, Google, OpenID Connect) linked to a user. */
  const identities = h.table(
    "identities",
    {
      id: h.text("id").primaryKey(),
      userId: h
        .text("user_id")
        .notNull()
        .references(() => users.id, { onDelete: "cascade" }),
      provider: h.text("provider").notNull(),
      subject: h.text("subject").notNull(),
      email: h.text("email"),
      createdAt: h.integer("created_at").notNull(),
      lastSignInAt: h.integer("last_sign_in_at"),
    },
    (t) => [
      h.uniqueIndex("identities_provider_subject_unique").on(t.provider, t.subject),
      h.index("identities_user_idx").on(t.userId),
    ],
  );

  /** Emails the owner invited; a provider sign-in with that verified email may create the account. */
  const invitations = h.table("invitations", {
    email: h.text("email").primaryKey(),
    invitedBy: h.text("invited_by").references(() => users.id, { onDelete: "set null" }),
    createdAt: h.integer("created_at").notNull(),
  });

  /** Cookie sessions. The cookie holds only the id; revoking a row signs the browser out. */
  const sessions = h.table(
    "sessions",
    {
      id: h.text("id").primaryKey(),
      userId: h
        .text("user_id")
        .notNull()
        .references(() => users.id, { onDelete: "cascade" }),
      createdAt: h.integer("created_at").notNull(),
      expiresAt: h.integer("expires_at").notNull(),
    },
    (t) => [h.index("sessions_user_idx").on(t.userId)],
  );

  /**
   * A secret to be shown once on the page a redirect leads to (a new signing secret): encrypted with
   * the data key, keyed by the hash of a random reference that only the browser's flash carries,
   * deleted when read, refused after `expires_at` (docs/decisions/034-secrets-shown-once.md).
   */
  const shownOnceSecrets = h.table(
    "shown_once_secrets",
    {
      refHash: h.text("ref_hash").primaryKey(),
      userId: h
        .text("user_id")
        .notNull()
        .references(() => users.id, { onDelete: "cascade" }),
      /** What the secret is for, e.g. "signing_secret:<server id>"; read back only for the same purpose. */
      purpose: h.text("purpose").notNull(),
      secretEnc: h.text("secret_enc").notNull(),
      createdAt: h.integer("created_at").notNull(),
      expiresAt: h.integer("expires_at").notNull(),
    },
    (t) => [h.index("shown_once_secrets_expires_idx").on(t.expiresAt)],
  );

  /** Failed sign-in counters, keyed by "account:<email>" or "address:<ip>". */
  const signInThrottle = h.table("sign_in_throttle", {
    key: h.text("key").primaryKey(),
    failures: h.integer("failures").notNull(),
    firstFailureAt: h.integer("first_failure_at").notNull(),
    blockedUntil: h.integer("blocked_until").notNull(),
  });

  const mcpServers = h.table(
    "mcp_servers",
    {
      id: h.text("id").primaryKey(),
      ownerId: h
        .text("owner_id")
        .notNull()
        .references(() => users.id, { onDelete: "cascade" }),
      name: h.text("name").notNull(),
      description: h.text("description").notNull().default(""),
      signingSecretEnc: h.text("signing_secret_enc").notNull(),
      createdAt: h.integer("created_at").notNull(),
      updatedAt: h.integer("updated_at").notNull(),
      /**
       * Bumped by database triggers (drizzle/0002_tools_version_triggers.sql) whenever a tool of this
       * server or a grant's tool list for it changes, by any process: the MCP endpoint's cached
       * tools/list answers are keyed by it, so none outlives a change.
       */
      toolsVersion: h.integer("tools_version").notNull().default(0),
      /** The owner requires DPoP-bound tokens (RFC 9449) for this server: plain bearer tokens are refused. */
      dpopRequired: h.boolean("dpop_required").notNull().default(false),
      /** The owner accepts enterprise-managed connections (ID-JAG grants) for this server; off by default. */
      enterpriseAccess: h.boolean("enterprise_access").notNull().default(false),
      /** JSON array of the tool names an enterprise-managed connection may call. */
      enterpriseTools: h.text("enterprise_tools").notNull().default("[]"),
      /**
       * The upstream REST API's base URL: tool endpoints written as a path ("/orders/{orderId}")
       * are resolved against it, and API credentials are only ever sent to it (decision 043).
       */
      baseUrl: h.text("base_url"),
      /** How the API credential is sent, as JSON without the secret ({type, in?, name?, username?}). */
      apiAuth: h.text("api_auth"),
      /** The API credential's secret (key, token or password), encrypted. */
      apiSecretEnc: h.text("api_secret_enc"),
    },
    (t) => [h.index("mcp_servers_owner_idx").on(t.ownerId)],
  );

  const tools = h.table(
    "tools",
    {
      id: h.text("id").primaryKey(),
      serverId: h
        .text("server_id")
        .notNull()
        .references(() => mcpServers.id, { onDelete: "cascade" }),
      name: h.text("name").notNull(),
      description: h.text("description").notNull().default(""),
      /** JSON Schema object, as JSON text. */
      inputSchema: h.text("input_schema").notNull(),
      endpointUrl: h.text("endpoint_url").notNull(),
      endpointMethod: h.text("endpoint_method").notNull().default("POST"),
      /** Extra request headers as encrypted JSON ({} when none); they may carry credentials. */
      endpointHeadersEnc: h.text("endpoint_headers_enc"),
      /**
       * Where each argument goes (path, query, header, body) as JSON; null for tools that send all
       * arguments as the JSON body (every tool made before the REST mapping existed).
       */
      endpointParams: h.text("endpoint_params"),
      /** MCP tool annotations (title, readOnlyHint, ...) as JSON, or null. */
      annotations: h.text("annotations"),
      /** JSON Schema of structured results, as JSON text, or null. */
      outputSchema: h.text("output_schema"),
      /** "METHOD /path" of the OpenAPI operation the tool was imported from; null for hand-made tools. */
      importedFrom: h.text("imported_from"),
      createdAt: h.integer("created_at").notNull(),
      updatedAt: h.integer("updated_at").notNull(),
    },
    (t) => [h.uniqueIndex("tools_server_name_unique").on(t.serverId, t.name)],
  );

  /**
   * An OpenAPI document uploaded for import, kept while its owner previews and picks operations
   * (a preview page is a plain GET, so the document must live somewhere between requests).
   */
  const openapiDrafts = h.table(
    "openapi_drafts",
    {
      id: h.text("id").primaryKey(),
      serverId: h
        .text("server_id")
        .notNull()
        .references(() => mcpServers.id, { onDelete: "cascade" }),
      /** The document as received (JSON or YAML text). */
      document: h.text("document").notNull(),
      /** Where it came from: a URL, a file name, or "pasted". */
      source: h.text("source").notNull(),
      createdAt: h.integer("created_at").notNull(),
      expiresAt: h.integer("expires_at").notNull(),
    },
    (t) => [h.index("openapi_drafts_server_idx").on(t.serverId)],
  );

  /**
   * OAuth clients: dynamically registered (RFC 7591), Client ID Metadata Documents (the client id is
   * an https URL; the row caches the fetched document until `expires_at`), or machine clients an
   * owner created for one server (client_credentials; `metadata` holds their jwks or jwks_uri).
   */
  const oauthClients = h.table(
    "oauth_clients",
    {
      id: h.text("id").primaryKey(),
      kind: h.text("kind", { enum: ["registered", "metadata_document", "machine"] }).notNull(),
      secretHash: h.text("secret_hash"),
      tokenEndpointAuthMethod: h.text("token_endpoint_auth_method").notNull().default("none"),
      clientName: h.text("client_name").notNull(),
      clientUri: h.text("client_uri"),
      logoUri: h.text("logo_uri"),
      /** The logo Toolgate fetched from logo_uri (metadata-document clients only): client_logos.digest. */
      logoDigest: h.text("logo_digest"),
      /** JSON array of strings. */
      redirectUris: h.text("redirect_uris").notNull(),
      /** The full validated metadata as JSON, returned from registration. */
      metadata: h.text("metadata").notNull(),
      createdAt: h.integer("created_at").notNull(),
      lastUsedAt: h.integer("last_used_at"),
      /** For metadata-document clients: when the cached document must be fetched again. */
      expiresAt: h.integer("expires_at"),
    },
    (t) => [h.index("oauth_clients_kind_last_used_idx").on(t.kind, t.lastUsedAt)],
  );

  /** A validated, pending authorization request: the row the consent page loader reads. */
  const authorizationRequests = h.table(
    "authorization_requests",
    {
      id: h.text("id").primaryKey(),
      clientId: h.text("client_id").notNull(),
      redirectUri: h.text("redirect_uri").notNull(),
      /** Whether the request carried redirect_uri explicitly (then /token must repeat it). */
      redirectUriProvided: h.boolean("redirect_uri_provided").notNull(),
      state: h.text("state"),
      codeChallenge: h.text("code_challenge").notNull(),
      scope: h.text("scope").notNull(),
      /** The RFC 8707 resource as sent; null when absent (the user then picks a server). */
      resource: h.text("resource"),
      serverId: h.text("server_id").references(() => mcpServers.id, { onDelete: "cascade" }),
      createdAt: h.integer("created_at").notNull(),
      expiresAt: h.integer("expires_at").notNull(),
      /** Set when Approve or Deny was processed; a request is answered once. */
      completedAt: h.integer("completed_at"),
    },
    (t) => [h.index("authorization_requests_expires_idx").on(t.expiresAt)],
  );

  /** What "connected application" means: a user let a client reach one MCP server. */
  const grants = h.table(
    "grants",
    {
      id: h.text("id").primaryKey(),
      userId: h
        .text("user_id")
        .notNull()
        .references(() => users.id, { onDelete: "cascade" }),
      clientId: h
        .text("client_id")
        .notNull()
        .references(() => oauthClients.id, { onDelete: "cascade" }),
      serverId: h
        .text("server_id")
        .notNull()
        .references(() => mcpServers.id, { onDelete: "cascade" }),
      scope: h.text("scope").notNull(),
      createdAt: h.integer("created_at").notNull(),
      updatedAt: h.integer("updated_at").notNull(),
      lastUsedAt: h.integer("last_used_at"),
      revokedAt: h.integer("revoked_at"),
      revokedBy: h.text("revoked_by"),
      /**
       * How the grant came to be: the user approved a consent screen, the owner created a machine
       * client (client_credentials), or an enterprise IdP asserted the user (ID-JAG grant).
       */
      source: h
        .text("source", { enum: ["consent", "machine", "enterprise"] })
        .notNull()
        .default("consent"),
    },
    (t) => [
      h.index("grants_server_idx").on(t.serverId),
      h.index("grants_user_client_server_idx").on(t.userId, t.clientId, t.serverId),
    ],
  );

  /** The tools a grant covers. Deleting a tool removes it from every grant. */
  const grantTools = h.table(
    "grant_tools",
    {
      grantId: h
        .text("grant_id")
        .notNull()
        .references(() => grants.id, { onDelete: "cascade" }),
      toolId: h
        .text("tool_id")
        .notNull()
        .references(() => tools.id, { onDelete: "cascade" }),
    },
    (t) => [h.primaryKey({ columns: [t.grantId, t.toolId] }), h.index("grant_tools_tool_idx").on(t.toolId)],
  );

  const authorizationCodes = h.table(
    "authorization_codes",
    {
      codeHash: h.text("code_hash").primaryKey(),
      grantId: h
        .text("grant_id")
        .notNull()
        .references(() => grants.id, { onDelete: "cascade" }),
      clientId: h.text("client_id").notNull(),
      userId: h.text("user_id").notNull(),
      serverId: h.text("server_id").notNull(),
      redirectUri: h.text("redirect_uri").notNull(),
      redirectUriProvided: h.boolean("redirect_uri_provided").notNull(),
      codeChallenge: h.text("code_challenge").notNull(),
      scope: h.text("scope").notNull(),
      resource: h.text("resource").notNull(),
      createdAt: h.integer("created_at").notNull(),
      expiresAt: h.integer("expires_at").notNull(),
      usedAt: h.integer("used_at"),
      /** The token family the code was exchanged for; a replay revokes it (RFC 6749 §10.5). */
      familyId: h.text("family_id"),
    },
    (t) => [h.index("authorization_codes_expires_idx").on(t.expiresAt)],
  );

  /** One family per code exchange: the refresh-token chain of one client installation. */
  const tokenFamilies = h.table(
    "token_families",
    {
      id: h.text("id").primaryKey(),
      grantId: h
        .text("grant_id")
        .notNull()
        .references(() => grants.id, { onDelete: "cascade" }),
      createdAt: h.integer("created_at").notNull(),
      revokedAt: h.integer("revoked_at"),
      revokedReason: h.text("revoked_reason"),
    },
    (t) => [h.index("token_families_grant_idx").on(t.grantId)],
  );

  const accessTokens = h.table(
    "access_tokens",
    {
      tokenHash: h.text("token_hash").primaryKey(),
      familyId: h
        .text("family_id")
        .notNull()
        .references(() => tokenFamilies.id, { onDelete: "cascade" }),
      grantId: h.text("grant_id").notNull(),
      clientId: h.text("client_id").notNull(),
      userId: h.text("user_id").notNull(),
      serverId: h.text("server_id").notNull(),
      scope: h.text("scope").notNull(),
      createdAt: h.integer("created_at").notNull(),
      expiresAt: h.integer("expires_at").notNull(),
      revokedAt: h.integer("revoked_at"),
      /** RFC 9449 cnf.jkt: the thumbprint of the DPoP key the token is bound to; null for a bearer token. */
      dpopJkt: h.text("dpop_jkt"),
    },
    (t) => [
      h.index("access_tokens_family_idx").on(t.familyId),
      h.index("access_tokens_expires_idx").on(t.expiresAt),
    ],
  );

  const refreshTokens = h.table(
    "refresh_tokens",
    {
      tokenHash: h.text("token_hash").primaryKey(),
      familyId: h
        .text("family_id")
        .notNull()
        .references(() => tokenFamilies.id, { onDelete: "cascade" }),
      grantId: h.text("grant_id").notNull(),
      clientId: h.text("client_id").notNull(),
      createdAt: h.integer("created_at").notNull(),
      expiresAt: h.integer("expires_at").notNull(),
      /** Set when this token was exchanged for a new one (rotation). */
      rotatedAt: h.integer("rotated_at"),
      /** Hash of the token that replaced it: the one live successor (a grace retry re-points it). */
      replacedBy: h.text("replaced_by"),
      revokedAt: h.integer("revoked_at"),
      /**
       * Set (with revoked_at) when a retry of its predecessor inside the grace window replaced this
       * never-used token; presenting it afterwards is reuse (docs/decisions/004).
       */
      supersededAt: h.integer("superseded_at"),
      /** Hash of the access token issued together with it, revoked with it when it is superseded. */
      accessTokenHash: h.text("access_token_hash"),
      /** RFC 9449 §5: a public client's refresh token is bound to its DPoP key; null when unbound. */
      dpopJkt: h.text("dpop_jkt"),
    },
    (t) => [
      h.index("refresh_tokens_family_idx").on(t.familyId),
      h.index("refresh_tokens_expires_idx").on(t.expiresAt),
    ],
  );

  const auditEvents = h.table(
    "audit_events",
    {
      id: h.autoIncrementId("id"),
      at: h.integer("at").notNull(),
      kind: h.text("kind").notNull(),
      serverId: h.text("server_id"),
      userId: h.text("user_id"),
      clientId: h.text("client_id"),
      grantId: h.text("grant_id"),
      /** Who did it: a user id, "client:<id>" or "system". */
      actor: h.text("actor"),
      /** JSON object with event details; never arguments or secrets. */
      detail: h
        .text("detail")
        .notNull()
        .default(sql`'{}'`),
    },
    // The Activity page reads one page of a server's events newest first, optionally of one kind or
    // one client: each index below is (server_id[, column], id), so every such page is read in
    // index order whatever the number of events (clients make as many as they call tools). SQLite
    // appends the rowid (= id) to every index itself; PostgreSQL needs it spelled out (rowOrder).
    (t) => [
      h.index("audit_events_server_idx").on(t.serverId, ...h.rowOrder(t.id)),
      h.index("audit_events_server_kind_idx").on(t.serverId, t.kind, ...h.rowOrder(t.id)),
      h.index("audit_events_server_client_idx").on(t.serverId, t.clientId, ...h.rowOrder(t.id)),
      h.index("audit_events_at_idx").on(t.at),
    ],
  );

  /**
   * Logos of metadata-document clients, fetched by Toolgate, checked to be a raster image and served
   * from its own origin at /client-logos/<digest> (never hot-linked). Keyed by the SHA-256 of the bytes,
   * so clients publishing the same image share one row. Rows no client points to are pruned.
   */
  const clientLogos = h.table("client_logos", {
    digest: h.text("digest").primaryKey(),
    /** The sniffed type: image/png, image/jpeg, image/gif or image/webp. */
    contentType: h.text("content_type").notNull(),
    bytes: h.blob("bytes").notNull(),
    createdAt: h.integer("created_at").notNull(),
  });

  /**
   * One-time values seen before (client assertion, ID-JAG and DPoP proof `jti`s): a key is claimed
   * by inserting it; a second insert of a live key fails, on any replica sharing the database.
   * Rows are useless once `expires_at` passed (the value itself is refused as expired then).
   */
  const replayGuard = h.table(
    "replay_guard",
    {
      key: h.text("key").primaryKey(),
      expiresAt: h.integer("expires_at").notNull(),
    },
    (t) => [h.index("replay_guard_expires_idx").on(t.expiresAt)],
  );

  return {
    users,
    identities,
    invitations,
    sessions,
    shownOnceSecrets,
    signInThrottle,
    mcpServers,
    tools,
    openapiDrafts,
    oauthClients,
    authorizationRequests,
    grants,
    grantTools,
    authorizationCodes,
    tokenFamilies,
    accessTokens,
    refreshTokens,
    auditEvents,
    clientLogos,
    replayGuard,
  };
}
