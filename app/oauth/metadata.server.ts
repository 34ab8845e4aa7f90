/**
 * Discovery documents: RFC 8414 authorization server metadata and RFC 9728 protected resource
 * metadata, plus the URLs other modules need (the MCP URL of a server is its RFC 8707 resource).
 */
import { eq } from "drizzle-orm";
import type { AppContext } from "~/context.server";
import { ASSERTION_SIGNING_ALGS } from "./client-assertion.server";
import { DPOP_SIGNING_ALGS } from "./dpop.server";

const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ID_JAG_PROFILE = "urn:ietf:params:oauth:grant-profile:id-jag";

export const SUPPORTED_SCOPES = ["mcp:tools"] as const;
export const DEFAULT_SCOPE = "mcp:tools";

/** The MCP URL (and RFC 8707 resource indicator) of one MCP server. */
export function mcpResourceUrl(ctx: Pick<AppContext, "config">, serverId: string): string {
  return `${ctx.config.publicUrl}/mcp/${serverId}`;
}

/** Where RFC 9728 §3.1 places the metadata of the resource `${publicUrl}/mcp/<serverId>`. */
export function protectedResourceMetadataUrl(ctx: Pick<AppContext, "config">, serverId: string): string {
  return `${ctx.config.publicUrl}/.well-known/oauth-protected-resource/mcp/${serverId}`;
}

/**
 * The server id named by an RFC 8707 resource indicator, or null when it is not the exact MCP URL of
 * a server that exists. Simple string comparison: no normalisation, no trailing slash tolerance.
 */
export async function serverIdFromResource(ctx: Pick<AppContext, "config" | "db" | "store">, resource: string): Promise<string | null> {
  const { mcpServers } = ctx.store.tables;
  const prefix = `${ctx.config.publicUrl}/mcp/`;
  if (!resource.startsWith(prefix)) return null;
  const id = resource.slice(prefix.length);
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) return null;
  const row = (await ctx.db.select({ id: mcpServers.id }).from(mcpServers).where(eq(mcpServers.id, id)).limit(1))[0];
  return row ? row.id : null;
}

/**
 * Whether a resource indicator names the whole Toolgate origin (the `resource` of the path-less
 * protected resource metadata). A client that found only that document sends it; the consent page
 * then treats the request like one without `resource` (the user picks a server).
 */
export function isOriginResource(ctx: Pick<AppContext, "config">, resource: string): boolean {
  return resource === ctx.config.publicUrl || resource === `${ctx.config.publicUrl}/`;
}

/** RFC 8414 §2. The issuer is PUBLIC_URL exactly (RFC 8414 §3.3: clients compare it by string). */
export function authorizationServerMetadata(ctx: Pick<AppContext, "config">) {
  const issuer = ctx.config.publicUrl;
  const enterprise = ctx.config.enterpriseIdpIssuers.length > 0;
  return {
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    registration_endpoint: `${issuer}/register`,
    revocation_endpoint: `${issuer}/revoke`,
    scopes_supported: [...SUPPORTED_SCOPES],
    response_types_supported: ["code"],
    response_modes_supported: ["query"],
    // The JWT bearer grant exists only to redeem ID-JAGs, so only when an IdP is trusted.
    grant_types_supported: ["authorization_code", "refresh_token", "client_credentials", ...(enterprise ? [JWT_BEARER] : [])],
    code_challenge_methods_supported: ["S256"],
    token_endpoint_auth_methods_supported: ["none", "client_secret_basic", "client_secret_post", "private_key_jwt"],
    token_endpoint_auth_signing_alg_values_supported: [...ASSERTION_SIGNING_ALGS],
    revocation_endpoint_auth_methods_supported: ["none", "client_secret_basic", "client_secret_post", "private_key_jwt"],
    revocation_endpoint_auth_signing_alg_values_supported: [...ASSERTION_SIGNING_ALGS],
    dpop_signing_alg_values_supported: [...DPOP_SIGNING_ALGS],
    ...(enterprise ? { authorization_grant_profiles_supported: [ID_JAG_PROFILE] } : {}),
    client_id_metadata_document_supported: true,
    authorization_response_iss_parameter_supported: true,
  };
}

export type ServerForMetadata = { id: string; name: string; dpopRequired: boolean | number };

/** RFC 9728 §2 metadata for one MCP server; `resource` is its exact MCP URL. */
export function protectedResourceMetadata(ctx: Pick<AppContext, "config">, server: ServerForMetadata) {
  return {
    resource: mcpResourceUrl(ctx, server.id),
    authorization_servers: [ctx.config.publicUrl],
    scopes_supported: [...SUPPORTED_SCOPES],
    bearer_methods_supported: ["header"],
    resource_name: server.name,
    dpop_signing_alg_values_supported: [...DPOP_SIGNING_ALGS],
    // RFC 9728 §2: the owner refuses plain bearer tokens on this server.
    ...(server.dpopRequired ? { dpop_bound_access_tokens_required: true } : {}),
  };
}

/** RFC 9728 metadata at the path-less well-known URL: the resource is the origin itself. */
export function originProtectedResourceMetadata(ctx: Pick<AppContext, "config">) {
  return {
    resource: ctx.config.publicUrl,
    authorization_servers: [ctx.config.publicUrl],
    scopes_supported: [...SUPPORTED_SCOPES],
    bearer_methods_supported: ["header"],
    resource_name: "Toolgate",
    dpop_signing_alg_values_supported: [...DPOP_SIGNING_ALGS],
  };
}

/** The server a protected-resource document describes, by id. */
export async function findServerForMetadata(ctx: Pick<AppContext, "db" | "store">, serverId: string): Promise<ServerForMetadata | null> {
  return (await ctx.store.hot.serverForMetadata(ctx.db, serverId)) ?? null;
}
