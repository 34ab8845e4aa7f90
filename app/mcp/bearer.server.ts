/**
 * The bearer check of the MCP endpoint (MCP 2025-11-25 "Authorization", RFC 6750, RFC 9728 §5.1),
 * with DPoP-bound tokens (RFC 9449 §7, checked by app/oauth/dpop.server.ts).
 * Every request is checked; nothing is remembered between requests.
 */
import type { AppContext } from "~/context.server";
import { checkDpopAccess, dpopChallenge, type DpopRequest } from "~/oauth/dpop-access.server";
import { protectedResourceMetadataUrl } from "~/oauth/metadata.server";
import { verifyAccessToken, type VerifiedAccessToken } from "~/oauth/tokens.server";

/** The one scope the MCP endpoint requires. */
export const MCP_SCOPE = "mcp:tools";

export type BearerFailure = {
  status: 401 | 403;
  /** RFC 6750 §3.1 / RFC 9449 §7.1 error code; absent when no token was sent (§3.1: "SHOULD NOT include an error code"). */
  error?: "invalid_token" | "insufficient_scope" | "invalid_dpop_proof" | "use_dpop_nonce";
  description: string;
  /** Challenge with the DPoP scheme (RFC 9449 §7.1) rather than Bearer. */
  dpop?: boolean;
  /** Extra answer headers (DPoP-Nonce). */
  headers?: Record<string, string>;
};

export type BearerResult = { ok: true; token: VerifiedAccessToken } | { ok: false; failure: BearerFailure };

// RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token. The scheme is case-insensitive (RFC 9110 §11.1).
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/**
 * Checks the Authorization header for `serverId`. The token is read from the header only: MCP
 * 2025-11-25 "Token Requirements" forbids tokens in the query string, so `?access_token=` is ignored.
 * `request` (method and DPoP header) is what a DPoP-bound token is checked against.
 */
export async function checkBearer(
  ctx: AppContext,
  authorization: string | null,
  serverId: string,
  request: DpopRequest = { method: "POST", dpop: null },
): Promise<BearerResult> {
  // RFC 9449 §7.1: `Authorization: DPoP <token>` with a proof, checked on its own.
  if (authorization && /^DPoP(\s|$)/i.test(authorization)) return checkDpopAccess(ctx, authorization, serverId, request, checkScope);
  // RFC 6750 §3.1: a request without Bearer credentials (no header, or another scheme) gets the
  // challenge without an error code; a Bearer value that is not a well-formed token is invalid_token.
  if (!authorization || !/^Bearer(\s|$)/i.test(authorization)) {
    return { ok: false, failure: { status: 401, description: "This MCP server requires an access token" } };
  }
  const match = BEARER.exec(authorization);
  if (!match) {
    return {
      ok: false,
      failure: { status: 401, error: "invalid_token", description: "The access token is invalid, expired or revoked" },
    };
  }
  const token = await verifyAccessToken(ctx, match[1]!);
  if (!token) {
    return {
      ok: false,
      failure: { status: 401, error: "invalid_token", description: "The access token is invalid, expired or revoked" },
    };
  }
  // MCP 2025-11-25 "Token Audience Binding and Validation": a token is accepted only by the resource
  // it was issued for. Tokens never cross from one MCP server to another.
  if (token.serverId !== serverId) {
    return {
      ok: false,
      failure: { status: 401, error: "invalid_token", description: "The access token was issued for a different MCP server" },
    };
  }
  // RFC 9449 §7.2: a DPoP-bound token is never accepted as a plain bearer token; and an owner may
  // refuse plain bearer tokens on their server altogether.
  if (token.dpopJkt !== null) {
    return { ok: false, failure: { status: 401, error: "invalid_token", dpop: true, description: "This access token is DPoP-bound: send it as Authorization: DPoP with a DPoP proof" } };
  }
  if (token.serverDpopRequired) {
    return { ok: false, failure: { status: 401, error: "invalid_token", dpop: true, description: "This MCP server accepts DPoP-bound access tokens only" } };
  }
  return checkScope(token);
}

/** The last check of every accepted token: it carries the scope the endpoint requires. */
function checkScope(token: VerifiedAccessToken): BearerResult {
  if (!token.scope.split(" ").includes(MCP_SCOPE)) {
    return {
      ok: false,
      failure: { status: 403, error: "insufficient_scope", description: `The access token lacks the ${MCP_SCOPE} scope` },
    };
  }
  return { ok: true, token };
}

const quoted = (value: string) => `"${value.replace(/["\\]/g, "")}"`;

/**
 * The WWW-Authenticate challenge: RFC 9728 §5.1 resource_metadata so clients can discover the
 * authorization server, and the scope to ask for (MCP 2025-11-25 "Scope Selection Strategy").
 */
export function bearerChallenge(ctx: AppContext, serverId: string, failure: BearerFailure): string {
  const scheme = failure.dpop ? dpopChallenge() : "Bearer";
  let challenge = `${scheme} resource_metadata=${quoted(protectedResourceMetadataUrl(ctx, serverId))}, scope=${quoted(MCP_SCOPE)}`;
  if (failure.error) challenge += `, error=${quoted(failure.error)}, error_description=${quoted(failure.description)}`;
  return challenge;
}
