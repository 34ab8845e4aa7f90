import { z } from "zod";
import { ProviderSignInError } from "./providers/errors.server";

const discoverySchema = z.object({
  issuer: z.string().url(),
  authorization_endpoint: z.string().url(),
  token_endpoint: z.string().url(),
  jwks_uri: z.string().url(),
  userinfo_endpoint: z.string().url().optional(),
  id_token_signing_alg_values_supported: z.array(z.string()).optional(),
});

export type DiscoveryDocument = z.infer<typeof discoverySchema>;

/** Discovery documents change rarely; an hour keeps a key or endpoint change from lingering. */
const CACHE_MS = 60 * 60 * 1000;
const cache = new Map<string, { doc: DiscoveryDocument; fetchedAt: number }>();

/**
 * The issuer's OpenID Provider Configuration (OpenID Connect Discovery 1.0 §4), cached per issuer.
 * Failures are not cached, so a provider that was briefly down is retried on the next sign-in.
 */
export async function discover(issuer: string): Promise<DiscoveryDocument> {
  const hit = cache.get(issuer);
  if (hit && Date.now() - hit.fetchedAt < CACHE_MS) return hit.doc;
  const url = `${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
  let body: unknown;
  try {
    const response = await fetch(url, { headers: { Accept: "application/json" }, signal: AbortSignal.timeout(10_000) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    body = await response.json();
  } catch (error) {
    throw new ProviderSignInError("provider", `discovery at ${url} failed: ${String(error)}`, { cause: error });
  }
  const parsed = discoverySchema.safeParse(body);
  if (!parsed.success) {
    throw new ProviderSignInError("provider", `discovery at ${url} is not a valid OpenID configuration`);
  }
  // Discovery §4.3: the issuer in the document must be the one we asked. One trailing slash of
  // difference is tolerated (issuers are configured by hand); the document's value is then the
  // one ID tokens are checked against.
  if (parsed.data.issuer.replace(/\/$/, "") !== issuer.replace(/\/$/, "")) {
    throw new ProviderSignInError("provider", `discovery issuer ${parsed.data.issuer} is not ${issuer}`);
  }
  cache.set(issuer, { doc: parsed.data, fetchedAt: Date.now() });
  return parsed.data;
}
