/**
 * The one error type of the authorization server (RFC 6749 §5.2, RFC 7591 §3.2.2, RFC 7009 §2.2.1)
 * and of the resource server's bearer challenges (RFC 6750 §3.1: 401 invalid_token, 403
 * insufficient_scope, with WWW-Authenticate). `description` is safe to send to the client;
 * `detail` is for our logs only and never sent. Anything that is not an OAuthError becomes a 500
 * `server_error` with a generic description.
 */
import type { AppContext } from "~/context.server";
import { NO_STORE, type ProtocolAnswer } from "~/http/protocol.server";

export class OAuthError extends Error {
  override name = "OAuthError";
  /** Extra response headers (WWW-Authenticate on a 401 invalid_client, RFC 6749 §5.2). */
  headers: Record<string, string> = {};

  constructor(
    readonly code: string,
    readonly description: string,
    readonly status = 400,
    readonly detail?: string,
  ) {
    super(`${code}: ${description}`);
  }

  withHeader(name: string, value: string): this {
    this.headers[name] = value;
    return this;
  }
}

/**
 * RFC 6749 §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E (printable ASCII
 * without `"` and `\`). Descriptions sometimes quote client input, so anything else becomes `?`.
 */
export function safeDescription(description: string): string {
  return description.replace(/[^\x20-\x21\x23-\x5B\x5D-\x7E]/g, "?").slice(0, 500);
}

/**
 * The error mapper of the OAuth endpoints: the JSON error body `{error, error_description}`,
 * never cached. The mapper of /mcp is `mcpCrashAnswer` (JSON-RPC), except for the bearer
 * challenges, which are OAuth errors there too.
 */
export function oauthErrorAnswer(error: unknown, ctx: Pick<AppContext, "logger">): ProtocolAnswer {
  if (error instanceof OAuthError) {
    ctx.logger.info("oauth error", {
      error: error.code,
      description: error.description,
      ...(error.detail ? { detail: error.detail } : {}),
    });
    return {
      status: error.status,
      headers: { ...error.headers, ...NO_STORE, "Content-Type": "application/json" },
      body: JSON.stringify({ error: error.code, error_description: safeDescription(error.description) }),
    };
  }
  ctx.logger.error("unexpected error in the authorization server", { error });
  return {
    status: 500,
    headers: { ...NO_STORE, "Content-Type": "application/json" },
    body: JSON.stringify({ error: "server_error", error_description: "The server could not complete the request" }),
  };
}
