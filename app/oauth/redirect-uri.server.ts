/**
 * The redirect URI policy (docs/decisions/006-redirect-uri-policy.md): exact string matching, with the
 * one exception RFC 8252 §7.3 requires for loopback redirect URIs (any port at request time).
 */

const LOOPBACK = /^http:\/\/(localhost|127\.0\.0\.1|\[::1\])(?::(\d{1,5}))?([/?][^#]*)?$/;

// Schemes that run code or read local data in the browser; never a redirect target.
const DANGEROUS_SCHEMES = new Set(["javascript:", "data:", "file:", "vbscript:", "blob:", "about:", "filesystem:", "view-source:"]);

/** The parts of a loopback http URI other than its port, or null when it is not one. */
function loopbackWithoutPort(uri: string): { host: string; rest: string } | null {
  const m = LOOPBACK.exec(uri);
  // A port past 65535 is no port: URL parsing (the browser's, and ours when the redirect is built)
  // refuses the whole URI.
  if (!m || (m[2] !== undefined && Number(m[2]) > 65535)) return null;
  return { host: m[1]!, rest: m[3] ?? "" };
}

/**
 * Whether `requested` may be used with a client that registered `registered`.
 * Simple string comparison (RFC 9700 §4.1.3, OAuth 2.1 §2.3.1); for loopback http URIs the port is
 * ignored (RFC 8252 §7.3) but scheme, host, path and query must still be identical.
 */
export function redirectUriMatches(registered: string[], requested: string): boolean {
  if (registered.includes(requested)) return true;
  const req = loopbackWithoutPort(requested);
  if (!req) return false;
  return registered.some((candidate) => {
    const reg = loopbackWithoutPort(candidate);
    return reg !== null && reg.host === req.host && reg.rest === req.rest;
  });
}

export function isLoopbackRedirectUri(uri: string): boolean {
  return loopbackWithoutPort(uri) !== null;
}

/** A private-use URI scheme (RFC 8252 §7.1), e.g. `cursor://…`: neither http nor https. */
export function isPrivateUseSchemeRedirectUri(uri: string): boolean {
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(uri)?.[1]?.toLowerCase();
  return scheme !== undefined && scheme !== "http" && scheme !== "https";
}

/**
 * Checks a redirect URI a client wants to register. Returns null when acceptable, otherwise a reason
 * that is safe to send as `error_description` of `invalid_redirect_uri` (RFC 7591 §3.2.2).
 */
export function checkRedirectUriForRegistration(uri: string): string | null {
  if (typeof uri !== "string" || uri.length === 0) return "A redirect URI must be a non-empty string";
  if (uri.length > 2000) return "A redirect URI must be at most 2000 characters";
  if (/[\s\x00-\x1f\x7f]/.test(uri)) return "A redirect URI must not contain whitespace or control characters";
  if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(uri)) return "A redirect URI must be an absolute URI";
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return "A redirect URI must be an absolute URI";
  }
  const scheme = url.protocol.toLowerCase();
  if (DANGEROUS_SCHEMES.has(scheme)) return `The ${scheme.slice(0, -1)} scheme is not allowed in a redirect URI`;
  // RFC 6749 §3.1.2: the redirection endpoint URI MUST NOT include a fragment component.
  if (uri.includes("#")) return "A redirect URI must not contain a fragment";
  // Exact matching only (RFC 9700 §4.1.3): patterns would let an attacker pick a target.
  if (uri.includes("*")) return "A redirect URI must not contain wildcards";
  if (url.username || url.password) return "A redirect URI must not contain user information";
  if (scheme === "https:") {
    if (!url.hostname) return "An https redirect URI must name a host";
    return null;
  }
  if (scheme === "http:") {
    // RFC 8252 §8.3 / OAuth 2.1 §2.3.1: plain http only for loopback redirects of native apps.
    if (isLoopbackRedirectUri(uri)) return null;
    return "An http redirect URI is only allowed for loopback addresses (localhost, 127.0.0.1, [::1]); use https";
  }
  // A private-use scheme (RFC 8252 §7.1), e.g. cursor://anysphere.cursor-retrieval/oauth/callback.
  if (uri.length <= scheme.length) return "A redirect URI must not be a bare scheme";
  return null;
}
