/**
 * Enterprise-Managed Authorization (the MCP extension built on the Identity Assertion JWT
 * Authorization Grant, "ID-JAG"): a confidential client presents an ID-JAG that a trusted
 * enterprise identity provider issued, as an RFC 7523 §2.1 JWT bearer grant, and gets an access
 * token for the person it names, on one MCP server that person owns and opened to such
 * connections (docs/decisions/048-enterprise-managed-authorization.md).
 *
 * Every refusal is invalid_grant with a description naming the check that failed.
 */
import { and, eq, isNull } from "drizzle-orm";
import type { JWTPayload } from "jose";
import { loadJose, type Jose } from "~/utils/jose.server";
import type { AppContext } from "~/context.server";
import { discover } from "~/auth/oidc-discovery.server";
import { findUserByEmail } from "~/auth/users.server";
import type { ServerAccessRow } from "~/db/hot.server";
import type { Tx } from "~/db/store.server";
import { newId } from "~/utils/crypto.server";
import { recordAudit } from "./audit.server";
import { ASSERTION_SIGNING_ALGS, CLOCK_SKEW_SECONDS, describeJoseError } from "./client-assertion.server";
import { touchClient, type OAuthClient } from "./clients.server";
import { OAuthError } from "./errors.server";
import { serverIdFromResource, SUPPORTED_SCOPES } from "./metadata.server";
import { claimOnce } from "./replay-guard.server";
import type { FormParams } from "./request-parsing.server";
import { requireParam } from "./request-parsing.server";
import { createFamily, mintTokens, type IssuedTokens } from "./tokens.server";

export const JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer";
export const ID_JAG_TYP = "oauth-id-jag+jwt";
export const ID_JAG_PROFILE = "urn:ietf:params:oauth:grant-profile:id-jag";
/** An ID-JAG may live at most this long; it bounds how long its jti is remembered. */
export const MAX_ID_JAG_LIFETIME_SECONDS = 3600;

const invalidGrant = (description: string) => new OAuthError("invalid_grant", description);

// Each trusted issuer's keys, found through its discovery document (jwks_uri) and cached by jose
// (it refetches on an unknown kid, at most every 30 s, and after 10 minutes).
// A discovery that failed is not retried for 30 s, so assertions naming an unreachable issuer do not
// each cost a request to it.
const keySets = new Map<string, ReturnType<Jose["createRemoteJWKSet"]>>();
const failedDiscovery = new Map<string, number>();
const DISCOVERY_RETRY_MS = 30_000;

async function issuerKeys(ctx: AppContext, issuer: string) {
  let keys = keySets.get(issuer);
  if (!keys) {
    if ((failedDiscovery.get(issuer) ?? 0) > ctx.now()) throw new Error("discovery failed recently");
    let doc;
    try {
      doc = await discover(issuer);
    } catch (error) {
      failedDiscovery.set(issuer, ctx.now() + DISCOVERY_RETRY_MS);
      throw error;
    }
    keys = (await loadJose()).createRemoteJWKSet(new URL(doc.jwks_uri), { timeoutDuration: 5000 });
    keySets.set(issuer, keys);
  }
  return keys;
}

/**
 * The provider name under which sign-in linked identities of this issuer (the identities table):
 * the OpenID Connect sign-in provider when it is the same issuer, Google for Google's issuer.
 */
function signInProviderFor(ctx: AppContext, issuer: string): string | null {
  const trim = (s: string) => s.replace(/\/+$/, "");
  const oidc = ctx.config.identityProviders.oidc;
  if (oidc && trim(oidc.issuer) === trim(issuer)) return "oidc";
  if (ctx.config.identityProviders.google && trim(issuer) === "https://accounts.google.com") return "google";
  return null;
}

/** The Toolgate user the IdP's subject is: by the linked identity; by email only when the operator allowed it. */
async function findPerson(ctx: AppContext, issuer: string, claims: JWTPayload): Promise<string | null> {
  const { identities } = ctx.store.tables;
  const provider = signInProviderFor(ctx, issuer);
  if (provider) {
    const linked = (await ctx.db
      .select({ userId: identities.userId })
      .from(identities)
      .where(and(eq(identities.provider, provider), eq(identities.subject, claims.sub!))).limit(1))[0];
    if (linked) return linked.userId;
  }
  // Only an address the IdP says it verified, as at sign-in.
  if (ctx.config.identityProviders.linkByEmail && typeof claims.email === "string" && claims.email_verified === true) {
    return (await findUserByEmail(ctx, claims.email))?.id ?? null;
  }
  return null;
}


async function verifyIdJag(ctx: AppContext, assertion: string): Promise<{ issuer: string; claims: JWTPayload }> {
  if (assertion.length > 16 * 1024) throw invalidGrant("The assertion is too large");
  const jose = await loadJose();
  const { decodeJwt, decodeProtectedHeader, errors, jwtVerify } = jose;
  let header;
  let unverified;
  try {
    header = decodeProtectedHeader(assertion);
    unverified = decodeJwt(assertion);
  } catch {
    throw invalidGrant("The assertion is not a signed JWT");
  }
  // RFC 8725 §3.11 / the extension: explicit typing tells an ID-JAG from any other JWT of the IdP.
  if (header.typ !== ID_JAG_TYP) throw invalidGrant(`The assertion's typ must be ${ID_JAG_TYP}`);
  if (typeof header.alg !== "string" || !ASSERTION_SIGNING_ALGS.includes(header.alg)) {
    throw invalidGrant(`The assertion's alg must be one of ${ASSERTION_SIGNING_ALGS.join(" ")}`);
  }
  const issuer = unverified.iss;
  if (typeof issuer !== "string" || !ctx.config.enterpriseIdpIssuers.includes(issuer)) {
    throw invalidGrant("The assertion's iss is not an identity provider this server trusts");
  }
  let keys;
  try {
    keys = await issuerKeys(ctx, issuer);
  } catch (error) {
    ctx.logger.warn("enterprise identity provider unavailable", { issuer, error: String(error) });
    throw invalidGrant("The assertion's issuer keys could not be fetched");
  }
  let claims: JWTPayload;
  try {
    ({ payload: claims } = await jwtVerify(assertion, keys, {
      typ: ID_JAG_TYP,
      algorithms: ASSERTION_SIGNING_ALGS,
      issuer,
      // The extension: aud is the issuer identifier of this authorization server, exactly.
      audience: ctx.config.publicUrl,
      requiredClaims: ["sub", "iat", "exp", "jti", "aud", "client_id", "resource"],
      clockTolerance: CLOCK_SKEW_SECONDS,
      currentDate: new Date(ctx.now()),
    }));
  } catch (error) {
    if (error instanceof errors.JOSEError) throw invalidGrant(`The assertion's ${describeJoseError(jose, error)}`);
    throw error;
  }
  const now = ctx.now() / 1000;
  if (claims.iat! > now + CLOCK_SKEW_SECONDS) throw invalidGrant("The assertion's iat is in the future");
  if (claims.exp! > now + MAX_ID_JAG_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS) {
    throw invalidGrant(`The assertion's exp is more than ${MAX_ID_JAG_LIFETIME_SECONDS} seconds ahead`);
  }
  if (typeof claims.sub !== "string" || claims.sub.length === 0 || claims.sub.length > 255) throw invalidGrant("The assertion's sub is not acceptable");
  if (typeof claims.jti !== "string" || claims.jti.length === 0 || claims.jti.length > 256) throw invalidGrant("The assertion's jti is not acceptable");
  return { issuer, claims };
}

/** RFC 7523 §2.1 with an ID-JAG. The client is already authenticated; `dpopJkt` binds the token (RFC 9449). */
export async function jwtBearerGrant(ctx: AppContext, client: OAuthClient, params: FormParams, dpopJkt: string | null): Promise<IssuedTokens> {
  await touchClient(ctx, client.id);
  if (ctx.config.enterpriseIdpIssuers.length === 0) {
    throw new OAuthError("unsupported_grant_type", "No enterprise identity provider is configured on this server");
  }
  const assertion = requireParam(params, "assertion");
  // The extension: the client authenticates as a confidential client.
  if (client.tokenEndpointAuthMethod === "none") {
    throw new OAuthError("unauthorized_client", "Only a confidential client may redeem an identity assertion grant");
  }
  const { issuer, claims } = await verifyIdJag(ctx, assertion);
  if (claims.client_id !== client.id) throw invalidGrant("The assertion's client_id is not the authenticated client");
  const resource = claims.resource;
  const serverId = typeof resource === "string" ? await serverIdFromResource(ctx, resource) : null;
  if (!serverId) throw invalidGrant("The assertion's resource is not one of this server's MCP servers");
  const requestedResource = params.get("resource");
  if (requestedResource !== undefined && requestedResource !== resource) {
    throw invalidGrant("The resource parameter does not match the assertion's resource");
  }
  // Scopes: those asserted (all we support when the IdP said none), narrowed by those requested.
  const asserted = typeof claims.scope === "string" ? claims.scope.split(" ").filter(Boolean) : [...SUPPORTED_SCOPES];
  const requested = params.get("scope")?.split(" ").filter(Boolean);
  const scope = asserted
    .filter((s) => (SUPPORTED_SCOPES as readonly string[]).includes(s))
    .filter((s) => requested === undefined || requested.includes(s));
  if (scope.length === 0) throw invalidGrant("The requested and asserted scopes have nothing in common");

  // Single use, on every replica, for as long as the assertion could be accepted.
  if (!(await claimOnce(ctx, "id_jag", issuer, claims.jti!, (claims.exp! + CLOCK_SKEW_SECONDS) * 1000))) {
    throw invalidGrant("The assertion's jti was already used (replay)");
  }
  const userId = await findPerson(ctx, issuer, claims);
  if (!userId) {
    throw invalidGrant("The assertion's sub is linked to no account here: the person must sign in with this identity provider first");
  }
  const server = (await ctx.store.hot.serverAccess(ctx.db, serverId))!;
  if (server.ownerId !== userId) throw invalidGrant("The assertion's person does not own the MCP server named by its resource");
  if (!server.enterpriseAccess) throw invalidGrant("The MCP server's owner has not enabled enterprise-managed connections");

  return ctx.store.groupTransaction(async (tx) => {
    const grantId = await enterpriseGrant(ctx, tx, userId, client.id, server);
    const familyId = await createFamily(ctx, tx, grantId);
    // No refresh token: the client returns to the IdP for a new ID-JAG, so the IdP's policy
    // (and its revocation of the person) applies at every renewal.
    const tokens = await mintTokens(ctx, tx, {
      grantId,
      familyId,
      clientId: client.id,
      userId,
      serverId,
      scope: scope.join(" "),
      withRefreshToken: false,
      dpopJkt,
    });
    await recordAudit(ctx, tx, {
      kind: "token.issued",
      serverId,
      userId,
      clientId: client.id,
      grantId,
      actor: `client:${client.id}`,
      detail: { grantType: JWT_BEARER_GRANT, idp: issuer, familyId, scope: tokens.scope, ...(dpopJkt ? { dpop: true } : {}) },
    });
    return tokens;
  });
}

/**
 * The live enterprise-managed grant of this person to this client on this server, created on
 * first use; its tools follow the server's enterprise tool choice (the owner's setting).
 */
async function enterpriseGrant(ctx: AppContext, tx: Tx, userId: string, clientId: string, server: ServerAccessRow): Promise<string> {
  const { grants, grantTools } = ctx.store.tables;
  const now = ctx.now();
  const existing = (await tx
    .select({ id: grants.id })
    .from(grants)
    .where(and(eq(grants.userId, userId), eq(grants.clientId, clientId), eq(grants.serverId, server.id), eq(grants.source, "enterprise"), isNull(grants.revokedAt))).limit(1))[0];
  const grantId = existing?.id ?? newId();
  if (!existing) {
    await tx.insert(grants).values({ id: grantId, userId, clientId, serverId: server.id, scope: "mcp:tools", createdAt: now, updatedAt: now, source: "enterprise" });
  }
  const wanted = await enterpriseToolIds(ctx, tx, server);
  const current = (await tx.select({ toolId: grantTools.toolId }).from(grantTools).where(eq(grantTools.grantId, grantId))).map((r) => r.toolId);
  if (wanted.length !== current.length || wanted.some((id) => !current.includes(id))) {
    await tx.delete(grantTools).where(eq(grantTools.grantId, grantId));
    for (const toolId of wanted) await tx.insert(grantTools).values({ grantId, toolId });
  }
  return grantId;
}

async function enterpriseToolIds(ctx: AppContext, tx: Tx, server: ServerAccessRow): Promise<string[]> {
  let names: unknown;
  try {
    names = JSON.parse(server.enterpriseTools);
  } catch {
    return [];
  }
  if (!Array.isArray(names)) return [];
  const rows = await ctx.store.hot.serverToolNames(tx, server.id);
  return rows.filter((r) => names.includes(r.name)).map((r) => r.id);
}
