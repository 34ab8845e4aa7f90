/**
 * private_key_jwt client authentication (RFC 7523 §2.2 and §3, OpenID Connect Core §9): the client
 * signs a short-lived JWT with a key whose public half it gave us (a JWKS, inline or at a
 * jwks_uri fetched under the metadata-document fetch rules).
 * docs/decisions/047-machine-clients-and-client-credentials.md lists the checks and why.
 */
import type { JSONWebKeySet, JWTPayload } from "jose";
import { loadJose, type Jose } from "~/utils/jose.server";
import { z } from "zod";
import type { AppContext } from "~/context.server";
import { OAuthError } from "./errors.server";
import { createMetadataDocumentFetcher, type MetadataDocumentFetcher } from "./metadata-document-fetch.server";
import { claimOnce } from "./replay-guard.server";

export const CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/** Asymmetric algorithms only: `none` and the HMAC family (a shared secret) are never accepted. */
export const ASSERTION_SIGNING_ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"];

/** An assertion may live at most this long (exp − now), so its jti need not be remembered longer. */
export const MAX_ASSERTION_LIFETIME_SECONDS = 300;
/** Clock difference tolerated on exp, nbf and iat. */
export const CLOCK_SKEW_SECONDS = 30;
const MAX_ASSERTION_LENGTH = 16 * 1024;

const publicJwk = z
  .object({ kty: z.enum(["RSA", "EC", "OKP"]), kid: z.string().max(200).optional(), alg: z.string().max(20).optional() })
  .passthrough()
  .refine((k) => !("d" in k) && !("p" in k) && !("q" in k) && !("k" in k), "must be public keys (no private parts)");

/** A JWKS a client may register: 1 to 10 public asymmetric keys. */
export const clientJwksSchema = z.object({ keys: z.array(publicJwk).min(1).max(10) }).passthrough();

export type ClientKeys = { jwks: JSONWebKeySet } | { jwksUri: string };

/** The JWKS or jwks_uri stored in a client's metadata JSON, or null when it has neither. */
export function clientKeysOf(metadataJson: string): ClientKeys | null {
  try {
    const metadata = JSON.parse(metadataJson) as { jwks?: unknown; jwks_uri?: unknown };
    if (typeof metadata.jwks_uri === "string") return { jwksUri: metadata.jwks_uri };
    const jwks = clientJwksSchema.safeParse(metadata.jwks);
    if (jwks.success) return { jwks: jwks.data as unknown as JSONWebKeySet };
  } catch {
    // fall through
  }
  return null;
}

/** The client id an assertion names (iss), read unverified only to find whose keys to check it with. */
export async function assertionClientId(assertion: string): Promise<string | null> {
  if (assertion.length > MAX_ASSERTION_LENGTH) return null;
  const { decodeJwt } = await loadJose();
  try {
    const claims = decodeJwt(assertion);
    return typeof claims.sub === "string" ? claims.sub : typeof claims.iss === "string" ? claims.iss : null;
  } catch {
    return null;
  }
}

// Key sets fetched from jwks_uri, per URL, for as long as the fetch rules' cache lifetime allows.
// A key id we do not know leads to one new fetch (key rotation), at most once a minute.
type CachedKeys = { jwks: JSONWebKeySet; until: number; fetchedAt: number };
const remoteKeys = new Map<string, CachedKeys>();
const MAX_REMOTE_KEY_SETS = 1000;
let productionFetcher: MetadataDocumentFetcher | undefined;

async function fetchKeys(ctx: AppContext, uri: string, fetcher: MetadataDocumentFetcher, force: boolean): Promise<JSONWebKeySet> {
  const cached = remoteKeys.get(uri);
  const now = ctx.now();
  if (cached && cached.until > now && !(force && now - cached.fetchedAt > 60_000)) return cached.jwks;
  let fetched;
  try {
    fetched = await fetcher(uri);
  } catch (error) {
    throw new AssertionCheckError(`keys could not be fetched from the jwks_uri (${(error as Error).message})`);
  }
  const parsed = clientJwksSchema.safeParse(fetched.document);
  if (!parsed.success) throw new AssertionCheckError("keys at the jwks_uri are not a JWKS of public keys");
  const jwks = parsed.data as unknown as JSONWebKeySet;
  if (remoteKeys.size >= MAX_REMOTE_KEY_SETS) remoteKeys.delete(remoteKeys.keys().next().value!);
  remoteKeys.set(uri, { jwks, until: now + fetched.cacheSeconds * 1000, fetchedAt: now });
  return jwks;
}

class AssertionCheckError extends Error {}

/**
 * Verifies a client assertion for `clientId` and claims its jti. Throws 401 invalid_client with a
 * description naming the failed check (RFC 6749 §5.2).
 */
export async function verifyClientAssertion(
  ctx: AppContext,
  clientId: string,
  keys: ClientKeys,
  assertion: string,
  fetcher?: MetadataDocumentFetcher,
): Promise<void> {
  try {
    await checkAssertion(ctx, clientId, keys, assertion, fetcher);
  } catch (error) {
    if (error instanceof AssertionCheckError) {
      throw new OAuthError("invalid_client", `Client authentication failed: the client assertion's ${error.message}`, 401);
    }
    throw error;
  }
}

async function checkAssertion(
  ctx: AppContext,
  clientId: string,
  keys: ClientKeys,
  assertion: string,
  fetcher?: MetadataDocumentFetcher,
): Promise<void> {
  const fail = (message: string) => new AssertionCheckError(message);
  if (assertion.length > MAX_ASSERTION_LENGTH) throw fail("size is too large");
  const jose = await loadJose();
  const { createLocalJWKSet, decodeProtectedHeader, errors, jwtVerify } = jose;
  let alg: unknown;
  try {
    alg = decodeProtectedHeader(assertion).alg;
  } catch {
    throw fail("format is not a signed JWT");
  }
  if (typeof alg !== "string" || !ASSERTION_SIGNING_ALGS.includes(alg)) {
    throw fail(`alg must be one of ${ASSERTION_SIGNING_ALGS.join(" ")}`);
  }
  const issuer = ctx.config.publicUrl;
  const options = {
    algorithms: ASSERTION_SIGNING_ALGS,
    // RFC 7523 §3: iss and sub are the client id; aud identifies this authorization server.
    issuer: clientId,
    subject: clientId,
    audience: [issuer, `${issuer}/token`],
    requiredClaims: ["exp", "jti"],
    clockTolerance: CLOCK_SKEW_SECONDS,
    currentDate: new Date(ctx.now()),
  };
  let payload: JWTPayload;
  try {
    if ("jwks" in keys) {
      ({ payload } = await jwtVerify(assertion, createLocalJWKSet(keys.jwks), options));
    } else {
      const fetch = fetcher ?? (productionFetcher ??= createMetadataDocumentFetcher());
      const verifyWith = async (force: boolean) =>
        (await jwtVerify(assertion, createLocalJWKSet(await fetchKeys(ctx, keys.jwksUri, fetch, force)), options)).payload;
      try {
        payload = await verifyWith(false);
      } catch (error) {
        if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
        payload = await verifyWith(true);
      }
    }
  } catch (error) {
    if (error instanceof AssertionCheckError) throw error;
    throw fail(describeJoseError(jose, error));
  }
  const now = ctx.now() / 1000;
  // RFC 7523 §3 (4) lets the server bound how far ahead exp may lie: it bounds the replay memory.
  if (payload.exp! > now + MAX_ASSERTION_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS) {
    throw fail(`exp must be at most ${MAX_ASSERTION_LIFETIME_SECONDS} seconds ahead`);
  }
  if (payload.iat !== undefined && payload.iat > now + CLOCK_SKEW_SECONDS) throw fail("iat is in the future");
  if (typeof payload.jti !== "string" || payload.jti.length === 0 || payload.jti.length > 256) throw fail("jti must be a string of 1 to 256 characters");
  // RFC 7523 §3 (7): a jti is accepted once, until the assertion expires.
  if (!(await claimOnce(ctx, "client_assertion", clientId, payload.jti, (payload.exp! + CLOCK_SKEW_SECONDS) * 1000))) {
    throw fail("jti was already used (replay)");
  }
}

/** What jose's refusal means, in the words of the check that failed. */
export function describeJoseError({ errors }: Jose, error: unknown): string {
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.reason === "missing") return `${error.claim} claim is missing`;
    if (error.claim === "exp") return "exp has passed (expired)";
    if (error.claim === "aud") return "aud does not name this authorization server";
    return `${error.claim} claim is not acceptable`;
  }
  if (error instanceof errors.JWTExpired) return "exp has passed (expired)";
  if (error instanceof errors.JWKSNoMatchingKey) return "signing key is not among the registered keys (kid)";
  if (error instanceof errors.JWKSMultipleMatchingKeys) return "kid matches more than one registered key";
  if (error instanceof errors.JWSSignatureVerificationFailed) return "signature does not verify";
  if (error instanceof errors.JOSEAlgNotAllowed) return "alg is not allowed";
  if (error instanceof errors.JOSEError) return `format is not acceptable (${error.code})`;
  throw error;
}
