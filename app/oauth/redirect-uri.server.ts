/**
 * The redirect URI policy (docs/decisions/006-redirect-uri-policy.md): exact string matching, with the
 * one exception RFC 8252 §7.3 requires for loopback redirect URIs (any port at request time).
 */

import { findUnsafeCharacter } from "~/utils/display-text";

const LOOPBACK = /^http:\/\/(localhost|127\.0\.0\.1|\[::1\])(?::(\d{1,5}))?([/?][^#]*)?$/;

// Schemes that run code or read local data in the browser; never a redirect target.
const DANGEROUS_SCHEMES = new Set(["javascript:", "data:", "file:", "vbscript:", "blob:", "about:", "filesystem:", "view-source:"]);

/**
 * Schemes that hand the rest of the URI to a web browser (or to the OS's search, installer or
 * shell), so that "returns to an app" would really open a web page the user never saw named.
 * From the browsers' own documentation and the lists native-app libraries keep (AppAuth's browser
 * matchers, the iOS browsers' "open in" schemes, the Windows app protocols); any other scheme that
 * embeds a URL is caught by embedsUrl() below.
 */
const BROWSER_LAUNCHER_SCHEMES = new Set([
  "microsoft-edge", "microsoft-edge-holographic", "microsoft-edge-http", "microsoft-edge-https", "read",
  "x-safari-http", "x-safari-https", "safari-http", "safari-https", "x-web-search",
  "googlechrome", "googlechromes", "googlechrome-x-callback", "chrome", "chrome-extension", "chromium",
  "firefox", "firefox-focus", "firefox-klar", "focus", "fennec",
  "opera", "opera-http", "opera-https", "opera-gx", "touch-http", "touch-https", "ohttp", "ohttps",
  "brave", "vivaldi", "edge", "duckduckgo", "ddgquicklink", "yandexbrowser-open-url", "ucbrowser", "samsunginternet",
  "intent", "android-app", "search", "search-ms", "ms-search", "ms-appinstaller", "ms-msdt", "ms-officecmd",
  "itms-services", "shortcuts", "x-callback-url",
  // Not apps at all: mail, telephony and other protocols a redirect must not go to.
  "mailto", "tel", "sms", "ws", "wss", "ftp", "jar", "ms-settings",
]);

/** A scheme of the web (or one the browser runs), as it could appear inside another URI. */
const EMBEDDED_URL = /(?:^|[^a-z0-9+.-])(?:https?|ftp|wss?|file|javascript|data|blob):/i;

/** Whether the part of a private-use URI after its scheme carries a URL (also percent-encoded). */
function embedsUrl(rest: string): boolean {
  let text = rest;
  for (let i = 0; i < 3; i++) {
    // `scheme:https://…`, `scheme://https://…`, `scheme://x-other://…`: a URL as the whole rest.
    if (EMBEDDED_URL.test(text) || /^\/{0,3}[a-z][a-z0-9+.-]*:\/\//i.test(text)) return true;
    let decoded: string;
    try {
      decoded = decodeURIComponent(text);
    } catch {
      return false;
    }
    if (decoded === text) return false;
    text = decoded;
  }
  return true;
}

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
  const unsafe = findUnsafeCharacter(uri);
  if (unsafe) return `A redirect URI must not contain formatting, direction or invisible characters (found ${unsafe})`;
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
  // The page says "returns to an app on this device"; a scheme that opens a browser on a URL it
  // carries would return somewhere else (docs/decisions/031-consent-screen-truth.md).
  const name = scheme.slice(0, -1);
  // `web+…` schemes are handled by whichever web site registered itself (registerProtocolHandler).
  if (BROWSER_LAUNCHER_SCHEMES.has(name) || name.startsWith("x-safari") || name.startsWith("microsoft-edge") || name.startsWith("web+")) {
    return `The ${name} scheme opens a browser or another program, not an app's redirect; it is not allowed in a redirect URI`;
  }
  if (embedsUrl(uri.slice(scheme.length))) {
    return "A redirect URI with an app scheme must not carry a web address (it would open a page other than the one shown)";
  }
  return null;
}

/** Where the browser goes when the authorization answers to `uri`, as the consent page says it. */
export type RedirectDestination =
  | { kind: "web"; host: string }
  | { kind: "loopback"; port: string }
  | { kind: "app"; scheme: string };

/**
 * What opens for a redirect URI that passed checkRedirectUriForRegistration: the host of an https
 * URI (as the browser resolves it: lower case, IDNA), the port on this computer for a loopback URI,
 * the scheme for a private-use app link. Null when it cannot be said.
 */
export function redirectDestination(uri: string): RedirectDestination | null {
  if (isLoopbackRedirectUri(uri)) {
    const port = LOOPBACK.exec(uri)![2] ?? "80";
    return { kind: "loopback", port };
  }
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return null;
  }
  if (isPrivateUseSchemeRedirectUri(uri)) return { kind: "app", scheme: url.protocol };
  return url.host ? { kind: "web", host: url.host } : null;
}
