/**
 * Origin validation and CORS for the MCP endpoint (docs/decisions/015-mcp-origin-and-cors.md).
 *
 * MCP 2025-11-25 "Streamable HTTP / Security Warning": servers MUST validate Origin and answer 403
 * when it is present and invalid (DNS rebinding). Because every request also needs a bearer token
 * that a browser never attaches by itself, the policy can stay open to real browser-based clients:
 * an Origin is accepted when it is PUBLIC_URL's origin, any https origin, or an http origin on a
 * loopback host (local tools such as the MCP Inspector). Plain-http origins elsewhere and "null"
 * are refused; those are what a rebinding page would send.
 */
import type { AppContext } from "~/context.server";

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** Whether a request with this Origin header may use the endpoint. A missing Origin is allowed. */
export function isAllowedOrigin(ctx: AppContext, origin: string | null): boolean {
  if (origin === null) return true;
  if (origin === ctx.config.publicUrl) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  // An Origin is scheme://host[:port] only; anything else is not a browser's Origin.
  if (url.origin !== origin) return false;
  if (url.protocol === "https:") return true;
  return url.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname);
}

export const CORS_ALLOWED_HEADERS = "authorization, content-type, mcp-protocol-version, mcp-session-id, last-event-id, dpop";
export const CORS_EXPOSED_HEADERS = "WWW-Authenticate, Mcp-Session-Id, DPoP-Nonce";

/** Adds the CORS answer headers for an allowed Origin. No credentials: tokens are never cookies. */
export function addCorsHeaders(headers: Record<string, string>, origin: string | null): Record<string, string> {
  headers.Vary = "Origin";
  if (origin === null) return headers;
  headers["Access-Control-Allow-Origin"] = origin;
  headers["Access-Control-Expose-Headers"] = CORS_EXPOSED_HEADERS;
  return headers;
}

/** The headers of the answer (204) to a CORS preflight (OPTIONS) from an allowed Origin. */
export function preflightHeaders(origin: string | null): Record<string, string> {
  const headers = addCorsHeaders({}, origin);
  headers["Access-Control-Allow-Methods"] = "GET, POST, DELETE, OPTIONS";
  headers["Access-Control-Allow-Headers"] = CORS_ALLOWED_HEADERS;
  headers["Access-Control-Max-Age"] = "600";
  return headers;
}
