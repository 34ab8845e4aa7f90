/**
 * Turns the raw HTTP request of /token, /revoke and /register into checked values: bounded body,
 * form parameters that appear at most once, client credentials from exactly one place.
 */
import type { ProtocolRequest } from "~/http/protocol.server";
import { OAuthError } from "./errors.server";
import type { TokenEndpointAuthMethod } from "./client-metadata.server";
import type { ClientCredentials } from "./clients.server";
import { assertionClientId, CLIENT_ASSERTION_TYPE } from "./client-assertion.server";
import { JsonTooDeepError, parseUntrustedJson } from "~/utils/json.server";

/** Reads the body, refusing more than `maxBytes` (413 would be less useful to OAuth clients than a 400). */
export async function readBodyText(request: ProtocolRequest, maxBytes: number, errorCode: string): Promise<string> {
  const read = await request.readBody(maxBytes);
  if (read.kind === "too_large") {
    // The rest of the body is never read, so the connection cannot carry another request.
    throw new OAuthError(errorCode, `The request body must be at most ${maxBytes} bytes`, 413).withHeader("Connection", "close");
  }
  if (read.kind === "aborted") throw new OAuthError("invalid_request", "The request body was not received");
  return read.text;
}

function mediaType(request: ProtocolRequest): string {
  return (request.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
}

export type FormParams = Map<string, string>;

/**
 * Parses an application/x-www-form-urlencoded body (RFC 6749 §3.2). A parameter sent more than once
 * is invalid_request (RFC 6749 §3.1: "MUST NOT be included more than once"); empty values count as
 * absent (RFC 6749 §3.1).
 */
export async function parseFormBody(request: ProtocolRequest, maxBytes = 16 * 1024): Promise<FormParams> {
  if (mediaType(request) !== "application/x-www-form-urlencoded") {
    throw new OAuthError("invalid_request", "The request body must be application/x-www-form-urlencoded");
  }
  const text = await readBodyText(request, maxBytes, "invalid_request");
  const params = new Map<string, string>();
  for (const [key, value] of new URLSearchParams(text)) {
    if (params.has(key)) throw new OAuthError("invalid_request", `The ${key} parameter must not be repeated`);
    params.set(key, value);
  }
  for (const [key, value] of params) if (value === "") params.delete(key);
  return params;
}

/** Parses the JSON body of a registration request (RFC 7591 §3.1). */
export async function parseJsonBody(request: ProtocolRequest, maxBytes = 64 * 1024): Promise<unknown> {
  if (mediaType(request) !== "application/json") {
    throw new OAuthError("invalid_client_metadata", "The request body must be application/json");
  }
  const text = await readBodyText(request, maxBytes, "invalid_client_metadata");
  try {
    return parseUntrustedJson(text);
  } catch (error) {
    if (error instanceof JsonTooDeepError) throw new OAuthError("invalid_client_metadata", `The request body is ${error.message}`);
    throw new OAuthError("invalid_client_metadata", "The request body is not valid JSON");
  }
}

export function requireParam(params: FormParams, name: string): string {
  const value = params.get(name);
  if (value === undefined) throw new OAuthError("invalid_request", `The ${name} parameter is required`);
  return value;
}

/**
 * Where the client put its credentials (RFC 6749 §2.3.1): HTTP Basic, or client_id/client_secret
 * in the body, never both (RFC 6749 §2.3: "MUST NOT use more than one authentication method").
 */
export async function parseClientCredentials(request: ProtocolRequest, params: FormParams): Promise<ClientCredentials> {
  const header = request.header("authorization");
  const bodyId = params.get("client_id");
  const bodySecret = params.get("client_secret");
  const assertionType = params.get("client_assertion_type");
  const assertion = params.get("client_assertion");
  if (assertionType !== undefined || assertion !== undefined) {
    // RFC 7521 §4.2 / RFC 7523 §2.2: the client authenticates with a JWT it signed, and nothing else.
    if (assertionType !== CLIENT_ASSERTION_TYPE) {
      throw new OAuthError("invalid_client", `The client_assertion_type must be ${CLIENT_ASSERTION_TYPE}`, 401);
    }
    if (assertion === undefined) throw new OAuthError("invalid_request", "The client_assertion parameter is required");
    if (header !== null || bodySecret !== undefined) {
      throw new OAuthError("invalid_request", "Client credentials must be sent in one place only: a client assertion, or a secret");
    }
    // RFC 7523 §3: client_id may be omitted; the assertion's sub names the client.
    const clientId = bodyId ?? (await assertionClientId(assertion));
    if (!clientId) throw new OAuthError("invalid_client", "Client authentication failed: the client assertion names no client", 401);
    return { clientId, method: "private_key_jwt", secret: null, assertion };
  }
  if (header !== null) {
    const match = /^Basic\s+([A-Za-z0-9+/=._~-]+)\s*$/i.exec(header);
    const invalidBasic = () =>
      new OAuthError("invalid_client", "The Authorization header is not valid HTTP Basic client authentication", 401).withHeader(
        "WWW-Authenticate",
        'Basic realm="toolgate"',
      );
    if (!match) throw invalidBasic();
    const decoded = Buffer.from(match[1]!, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) throw invalidBasic();
    let clientId: string;
    let secret: string;
    try {
      // RFC 6749 §2.3.1: both parts are form-urlencoded before being joined.
      clientId = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, " "));
      secret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, " "));
    } catch {
      throw invalidBasic();
    }
    if (bodySecret !== undefined) {
      throw new OAuthError("invalid_request", "Client credentials must be sent in one place only, not in both the header and the body");
    }
    if (bodyId !== undefined && bodyId !== clientId) {
      throw new OAuthError("invalid_request", "The client_id parameter does not match the Authorization header");
    }
    if (!clientId) throw invalidBasic();
    // Some libraries send `client_id:` (an empty password) for public clients: that is no
    // authentication at all, so it counts as "none", like an empty client_secret in the body.
    if (secret === "") return { clientId, method: "none", secret: null, basicHeader: true };
    return { clientId, method: "client_secret_basic", secret, basicHeader: true };
  }
  if (bodyId === undefined) throw new OAuthError("invalid_request", "The client_id parameter is required");
  const method: TokenEndpointAuthMethod = bodySecret !== undefined ? "client_secret_post" : "none";
  return { clientId: bodyId, method, secret: bodySecret ?? null };
}
