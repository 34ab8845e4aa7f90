/**
 * DPoP proofs (RFC 9449): the one verifier /token and the MCP endpoint share, and the server nonces
 * (docs/decisions/049-dpop-sender-constrained-tokens.md, 050-one-time-values-across-replicas.md).
 *
 * A proof is a JWT signed by the client's key, carried in the `DPoP` header, that names the HTTP
 * method and URL of the request it travels with (`htm`, `htu`), when it was made (`iat`), a unique
 * id (`jti`, refused a second time on any replica: app/oauth/replay-guard.server.ts) and, at a
 * resource, the hash of the access token (`ath`). The key is the public JWK in its header; its
 * RFC 7638 thumbprint is what tokens are bound to (`cnf.jkt`, stored as `dpop_jkt`).
 *
 * Nonces are stateless so every replica issues and accepts the same ones: an HMAC, under a key
 * derived from the data-dir key, of a five-minute time window. A nonce is accepted in its window
 * and the next one.
 */
import { createHash, createHmac } from "node:crypto";
import type { JWK } from "jose";
import { loadJose } from "~/utils/jose.server";
import type { AppContext } from "~/context.server";
import { safeEqual } from "~/utils/crypto.server";
import { OAuthError } from "./errors.server";
import { claimOnce } from "./replay-guard.server";

/** Asymmetric signature algorithms only (RFC 9449 §4.2: never `none`, never a MAC). */
export const DPOP_SIGNING_ALGS = ["ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"];

/** How far a proof's `iat` may lie from our clock, either way (RFC 9449 §11.1). */
export const DPOP_IAT_WINDOW_SECONDS = 60;
const NONCE_PERIOD_MS = 5 * 60 * 1000;
const MAX_PROOF_LENGTH = 8192;

/** Why a proof was refused: `use_dpop_nonce` asks the client to retry with the nonce we send. */
export class DpopProofError extends Error {
  override name = "DpopProofError";
  constructor(
    readonly code: "invalid_dpop_proof" | "use_dpop_nonce",
    readonly description: string,
  ) {
    super(`${code}: ${description}`);
  }
}

export type DpopProofInput = {
  /** The request's method. */
  method: string;
  /** The URL the proof must name: the endpoint's public URL, without query or fragment. */
  url: string;
  /** The raw `DPoP` header value (repeated headers arrive joined with ", " and are refused). */
  proof: string | null;
  /** At a resource: the access token presented with the proof (its hash must be `ath`). */
  accessToken?: string;
};

export type VerifiedDpopProof = { jkt: string };

const keyCache = new WeakMap<Buffer, Buffer>();
function nonceKey(ctx: Pick<AppContext, "secrets">): Buffer {
  let key = keyCache.get(ctx.secrets.dataKey);
  if (!key) {
    key = createHmac("sha256", ctx.secrets.dataKey).update("toolgate dpop nonce v1").digest();
    keyCache.set(ctx.secrets.dataKey, key);
  }
  return key;
}

function nonceFor(ctx: Pick<AppContext, "secrets">, window: number): string {
  const mac = createHmac("sha256", nonceKey(ctx)).update(String(window)).digest("base64url").slice(0, 22);
  return `${window.toString(36)}.${mac}`;
}

/** Whether /token and the MCP endpoint demand a server nonce in every proof (TOOLGATE_DPOP_NONCE). */
export function dpopNonceRequired(ctx: Pick<AppContext, "config">): boolean {
  return ctx.config.dpopNonce;
}

/** The nonce to hand out now (the `DPoP-Nonce` header). */
export function currentDpopNonce(ctx: Pick<AppContext, "secrets" | "now">): string {
  return nonceFor(ctx, Math.floor(ctx.now() / NONCE_PERIOD_MS));
}

function isValidNonce(ctx: Pick<AppContext, "secrets" | "now">, nonce: unknown): boolean {
  if (typeof nonce !== "string" || nonce.length > 64) return false;
  const current = Math.floor(ctx.now() / NONCE_PERIOD_MS);
  return safeEqual(nonce, nonceFor(ctx, current)) || safeEqual(nonce, nonceFor(ctx, current - 1));
}

/** base64url(SHA-256(ASCII(token))): the `ath` claim (RFC 9449 §4.2). */
export function accessTokenHash(token: string): string {
  return createHash("sha256").update(token, "ascii").digest("base64url");
}

/** The URL without query and fragment, as RFC 9449 §4.3 compares `htu`; null when it is no URL. */
function withoutQuery(value: unknown): string | null {
  if (typeof value !== "string" || value.length > 2000) return null;
  try {
    const url = new URL(value);
    return `${url.origin}${url.pathname}`;
  } catch {
    return null;
  }
}

/**
 * Checks a DPoP proof (RFC 9449 §4.3) and returns its key's thumbprint. Throws DpopProofError
 * naming the failed check. The jti is claimed last, so a proof refused for another reason can
 * still be corrected and sent again.
 */
export async function verifyDpopProof(ctx: AppContext, input: DpopProofInput): Promise<VerifiedDpopProof> {
  const invalid = (description: string) => new DpopProofError("invalid_dpop_proof", description);
  const { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, errors, jwtVerify } = await loadJose();
  const proof = input.proof;
  // §4.3 (1): exactly one DPoP header; (2) a single well-formed JWT.
  if (!proof) throw invalid("The DPoP header is missing");
  if (proof.length > MAX_PROOF_LENGTH || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(proof)) {
    throw invalid("The DPoP header must hold exactly one proof JWT");
  }
  let header;
  try {
    header = decodeProtectedHeader(proof);
  } catch {
    throw invalid("The DPoP proof is not a JWT");
  }
  if (header.typ !== "dpop+jwt") throw invalid("The DPoP proof's typ must be dpop+jwt");
  if (typeof header.alg !== "string" || !DPOP_SIGNING_ALGS.includes(header.alg)) {
    throw invalid(`The DPoP proof's alg must be one of ${DPOP_SIGNING_ALGS.join(" ")}`);
  }
  const jwk = header.jwk as JWK | undefined;
  if (!jwk || typeof jwk !== "object") throw invalid("The DPoP proof's header must carry the public key (jwk)");
  // RFC 9449 §4.3 (7): the key must not be private (EmbeddedJWK refuses one too; say why here).
  if ("d" in jwk || "k" in jwk || "p" in jwk) throw invalid("The DPoP proof's jwk must be a public key");

  let payload;
  try {
    ({ payload } = await jwtVerify(proof, EmbeddedJWK, {
      typ: "dpop+jwt",
      algorithms: DPOP_SIGNING_ALGS,
      currentDate: new Date(ctx.now()),
    }));
  } catch (error) {
    if (error instanceof errors.JOSEError) throw invalid("The DPoP proof's signature does not verify with its jwk");
    throw error;
  }
  const jti = payload.jti;
  if (typeof jti !== "string" || jti.length < 8 || jti.length > 256) throw invalid("The DPoP proof needs a jti of 8 to 256 characters");
  if (payload.htm !== input.method.toUpperCase()) throw invalid(`The DPoP proof's htm must be ${input.method.toUpperCase()}`);
  if (withoutQuery(payload.htu) !== withoutQuery(input.url)) throw invalid(`The DPoP proof's htu must be ${withoutQuery(input.url)}`);
  const iat = payload.iat;
  const nowSeconds = ctx.now() / 1000;
  if (typeof iat !== "number" || !Number.isFinite(iat)) throw invalid("The DPoP proof needs an iat");
  if (Math.abs(nowSeconds - iat) > DPOP_IAT_WINDOW_SECONDS) {
    throw invalid(`The DPoP proof's iat must be within ${DPOP_IAT_WINDOW_SECONDS} seconds of the server's time`);
  }
  if (input.accessToken !== undefined) {
    if (typeof payload.ath !== "string" || !safeEqual(payload.ath, accessTokenHash(input.accessToken))) {
      throw invalid("The DPoP proof's ath does not match the access token");
    }
  }
  if (dpopNonceRequired(ctx) && !isValidNonce(ctx, payload.nonce)) {
    throw new DpopProofError("use_dpop_nonce", "The DPoP proof must carry the server's current nonce (see the DPoP-Nonce header)");
  }
  const jkt = await calculateJwkThumbprint(jwk, "sha256");
  // §11.1: a proof is used once. Remembered as long as its iat could still be accepted.
  if (!(await claimOnce(ctx, "dpop", jkt, jti, (iat + DPOP_IAT_WINDOW_SECONDS + 1) * 1000))) {
    throw invalid("The DPoP proof was already used (jti replay)");
  }
  return { jkt };
}

/**
 * How tokens issued with a proof of key `jkt` are bound: the access token always; the refresh
 * token only for a public client (RFC 9449 §5: a confidential client's refresh token is already
 * bound to its client authentication).
 */
export function dpopBinding(client: { tokenEndpointAuthMethod: string }, jkt: string | null) {
  return { dpopJkt: jkt, bindRefreshToken: jkt !== null && client.tokenEndpointAuthMethod === "none" };
}

/** RFC 9449 §5: a bound refresh token is redeemed only with a proof of the same key. */
export function refreshBindingProblem(boundJkt: string | null, presentedJkt: string | null): string | null {
  if (boundJkt === null) return null;
  if (presentedJkt === null) return "The refresh token is bound to a DPoP key: send a DPoP proof signed with it";
  if (boundJkt !== presentedJkt) return "The DPoP proof is not signed with the key the refresh token is bound to";
  return null;
}

/**
 * The DPoP proof sent to /token, if any (RFC 9449 §5): its key's thumbprint, or null for a request
 * without one. A bad proof is 400 invalid_dpop_proof; a proof without the current nonce, when
 * nonces are required, 400 use_dpop_nonce with the nonce in DPoP-Nonce (§8).
 */
export async function tokenRequestDpop(ctx: AppContext, headers: { get(name: string): string | null }): Promise<string | null> {
  const proof = headers.get("dpop");
  if (proof === null) return null;
  try {
    return (await verifyDpopProof(ctx, { method: "POST", url: `${ctx.config.publicUrl}/token`, proof })).jkt;
  } catch (error) {
    if (!(error instanceof DpopProofError)) throw error;
    const answer = new OAuthError(error.code, error.description);
    if (error.code === "use_dpop_nonce") answer.withHeader("DPoP-Nonce", currentDpopNonce(ctx));
    throw answer;
  }
}

/** Headers for a successful /token answer: the nonce to use next, when nonces are on (§8.2). */
export function dpopNonceHeaders(ctx: AppContext): Record<string, string> {
  return dpopNonceRequired(ctx) ? { "DPoP-Nonce": currentDpopNonce(ctx) } : {};
}
