import type { JWTPayload } from "jose";
import { loadJose, type Jose } from "~/utils/jose.server";
import { ProviderSignInError } from "./providers/errors.server";

/** One key set per jwks_uri: jose caches the keys and refetches (with a cooldown) on an unknown kid. */
const keySets = new Map<string, ReturnType<Jose["createRemoteJWKSet"]>>();

function keySet({ createRemoteJWKSet }: Jose, jwksUri: string) {
  let set = keySets.get(jwksUri);
  if (!set) {
    set = createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: 10_000 });
    keySets.set(jwksUri, set);
  }
  return set;
}

export type IdTokenClaims = JWTPayload & {
  sub: string;
  email?: unknown;
  email_verified?: unknown;
  name?: unknown;
  nonce?: unknown;
};

/** Asymmetric algorithms only: an HS256 ID token would be signed with our own client secret. */
const ASYMMETRIC = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"];

/**
 * Validates an ID token as OpenID Connect Core 1.0 §3.1.3.7 asks: signature against the issuer's
 * published keys (6), `iss` (2), `aud` contains our client id (3) and `azp` is us when present
 * (4, 5), `exp` (9) and `iat` (10) against our clock, and `nonce` equals the one this browser's
 * flow sent (11). Any failure is a ProviderSignInError("token").
 */
export async function verifyIdToken(
  idToken: string,
  options: {
    issuer: string | string[];
    clientId: string;
    jwksUri: string;
    nonce: string;
    now: number;
    algorithms?: string[];
  },
): Promise<IdTokenClaims> {
  const algorithms = (options.algorithms ?? ["RS256"]).filter((a) => ASYMMETRIC.includes(a));
  const jose = await loadJose();
  const { errors, jwtVerify } = jose;
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(idToken, keySet(jose, options.jwksUri), {
      issuer: options.issuer,
      audience: options.clientId,
      algorithms: algorithms.length ? algorithms : ["RS256"],
      currentDate: new Date(options.now),
      clockTolerance: 60,
      // §3.1.3.7 (10): an ID token older than this was not issued for this sign-in.
      maxTokenAge: "10 minutes",
      requiredClaims: ["iss", "sub", "aud", "exp", "iat"],
    }));
  } catch (error) {
    if (error instanceof errors.JOSEError) {
      throw new ProviderSignInError("token", `ID token rejected: ${error.code} ${error.message}`, { cause: error });
    }
    throw error;
  }
  if (typeof payload.sub !== "string" || payload.sub.length === 0 || payload.sub.length > 255) {
    throw new ProviderSignInError("token", "ID token has no usable sub");
  }
  if (Array.isArray(payload.aud) && payload.aud.length > 1 && payload.azp === undefined) {
    throw new ProviderSignInError("token", "ID token with several audiences and no azp");
  }
  if (payload.azp !== undefined && payload.azp !== options.clientId) {
    throw new ProviderSignInError("token", `ID token azp ${String(payload.azp)} is not our client`);
  }
  // §3.1.3.7 (11): replaying an ID token from another sign-in fails here.
  if (payload.nonce !== options.nonce) {
    throw new ProviderSignInError("token", "ID token nonce does not match this sign-in");
  }
  return payload as IdTokenClaims;
}

/** `email_verified` is a boolean in the spec; some providers send the string "true". */
export function isVerified(value: unknown): boolean {
  return value === true || value === "true";
}
