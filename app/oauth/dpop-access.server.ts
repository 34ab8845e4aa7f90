/**
 * The MCP endpoint's check of `Authorization: DPoP <token>` (RFC 9449 §7): the token is valid, for
 * this server, DPoP-bound, and sent with a proof for this request (method, the server's MCP URL,
 * `ath` of the token, fresh `jti`, the server nonce when nonces are on) signed by the key the token
 * is bound to. Self-contained: the endpoint calls it through checkBearer in one line.
 */
import type { AppContext } from "~/context.server";
import type { BearerResult } from "~/mcp/bearer.server";
import { currentDpopNonce, DPOP_SIGNING_ALGS, DpopProofError, verifyDpopProof } from "./dpop.server";
import { mcpResourceUrl } from "./metadata.server";
import { verifyAccessToken, type VerifiedAccessToken } from "./tokens.server";

/** What of the HTTP request a DPoP proof is checked against. */
export type DpopRequest = { method: string; /** The raw DPoP header. */ dpop: string | null };

// RFC 9449 §7.1: credentials = "DPoP" 1*SP token68.
const DPOP_CREDENTIALS = /^DPoP +([A-Za-z0-9\-._~+/]+=*) *$/i;

/** The DPoP scheme's challenge head, with the algorithms we accept (RFC 9449 §7.1). */
export function dpopChallenge(): string {
  return `DPoP algs="${DPOP_SIGNING_ALGS.join(" ")}",`;
}

export async function checkDpopAccess(
  ctx: AppContext,
  authorization: string,
  serverId: string,
  request: DpopRequest,
  checkScope: (token: VerifiedAccessToken) => BearerResult,
): Promise<BearerResult> {
  const refuse = (error: "invalid_token" | "invalid_dpop_proof" | "use_dpop_nonce", description: string, headers?: Record<string, string>) =>
    ({ ok: false, failure: { status: 401, error, description, dpop: true, headers } }) as const;
  const match = DPOP_CREDENTIALS.exec(authorization);
  const token = match ? await verifyAccessToken(ctx, match[1]!) : null;
  if (!match || !token) return refuse("invalid_token", "The access token is invalid, expired or revoked");
  if (token.serverId !== serverId) return refuse("invalid_token", "The access token was issued for a different MCP server");
  if (token.dpopJkt === null) return refuse("invalid_token", "This access token is not DPoP-bound: send it as Authorization: Bearer");
  let jkt: string;
  try {
    ({ jkt } = await verifyDpopProof(ctx, { method: request.method, url: mcpResourceUrl(ctx, serverId), proof: request.dpop, accessToken: match[1]! }));
  } catch (error) {
    if (!(error instanceof DpopProofError)) throw error;
    return refuse(error.code, error.description, error.code === "use_dpop_nonce" ? { "DPoP-Nonce": currentDpopNonce(ctx) } : undefined);
  }
  // RFC 9449 §7.1: the proof's key must be the one the token is bound to (cnf.jkt).
  if (jkt !== token.dpopJkt) return refuse("invalid_dpop_proof", "The DPoP proof is not signed with the key this access token is bound to");
  return checkScope(token);
}
