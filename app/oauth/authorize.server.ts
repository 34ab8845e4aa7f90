/**
 * The authorization request (GET /authorize): a pipeline of small checks, each enforcing one rule.
 *
 * Order matters (RFC 6749 §4.1.2.1, OAuth 2.1 §4.1.2.1): the client and its redirect URI are
 * verified first. Until both are, an error is shown on our own page (AuthorizePageError) and the
 * browser is never sent anywhere. Once they are, every other error goes back to the client as an
 * error response on its redirect URI (OAuthError), with `iss` (RFC 9207 §2).
 *
 * A valid request is stored as an authorization_requests row and the browser moves to
 * /authorize?request=<id>: the consent page refers to the stored request, and its URL no longer
 * carries `state` or the PKCE challenge (docs/decisions/005-consent-csrf.md).
 */
import type { AppContext } from "~/context.server";
import type { authorizationRequests } from "~/db/schema";
import { newId } from "~/utils/crypto.server";
import { isMetadataDocumentClientId, resolveClient, type OAuthClient } from "./clients.server";
import { OAuthError } from "./errors.server";
import { DEFAULT_SCOPE, isOriginResource, serverIdFromResource, SUPPORTED_SCOPES } from "./metadata.server";
import { checkRedirectUriForRegistration, redirectUriMatches } from "./redirect-uri.server";

/** The four messages of the product documentation, word for word. */
export const MESSAGES = {
  redirectInvalid: "The application redirect URL is no longer valid.",
  expired: "This authorization request expired.",
  signedOut: "You must be signed in to continue.",
  noAccess: "You do not have access to this MCP server.",
} as const;

/**
 * The redirect URI matches a registered one and is still allowed by today's registration rules: a
 * client stored before a rule existed (a browser-launcher scheme, an invisible character) is not
 * sent there (docs/decisions/031-consent-screen-truth.md).
 */
function checkRegisteredRedirectUri(client: OAuthClient, redirectUri: string): void {
  if (!redirectUriMatches(client.redirectUris, redirectUri)) throw new AuthorizePageError(MESSAGES.redirectInvalid, 400, redirectUri);
  const problem = checkRedirectUriForRegistration(redirectUri);
  // The message keeps its exact words; why the stored address is refused goes below it.
  if (problem) throw new AuthorizePageError(MESSAGES.redirectInvalid, 400, redirectUri, `${problem}.`);
}

/** An error shown on our page; the browser is not redirected (the redirect URI is not trusted). */
export class AuthorizePageError extends Error {
  override name = "AuthorizePageError";
  constructor(
    message: string,
    readonly status = 400,
    /** Shown under the message: the redirect address the request asked for (redirectInvalid). */
    readonly requestedRedirectUri: string | null = null,
    /** Shown under the message too: why a registered address is no longer accepted. */
    readonly reason: string | null = null,
  ) {
    super(message);
  }
}

export type VerifiedClient = {
  client: OAuthClient;
  /** The redirect URI this request uses: the one sent, or the client's only registered one. */
  redirectUri: string;
  /** Whether redirect_uri was in the request (RFC 6749 §4.1.3: then /token must repeat it). */
  redirectUriProvided: boolean;
};

export type ValidatedAuthorizationRequest = {
  clientId: string;
  redirectUri: string;
  redirectUriProvided: boolean;
  state: string | null;
  codeChallenge: string;
  scope: string;
  /** The RFC 8707 resource as sent; null when absent or naming the whole origin. */
  resource: string | null;
  /** The MCP server the resource names; null when the user picks one on the consent page. */
  serverId: string | null;
};

export type PendingAuthorizationRequest = typeof authorizationRequests.$inferSelect;

/** The parameters a client may send once, as a map; repeated names are kept for the checks. */
function values(params: URLSearchParams, name: string): string[] {
  return params.getAll(name);
}

// RFC 7636 §4.2: S256 of a 32-byte-or-longer verifier is 43 base64url characters.
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
const REQUEST_ID = /^[A-Za-z0-9_-]{16,64}$/;
const MAX_STATE_LENGTH = 2048;

// --- Step 1: the client and its redirect URI, checked before anything can be redirected ---

/** RFC 6749 §4.1.2.1: a missing, repeated or unknown client_id is shown to the user, never redirected. */
export async function checkClient(ctx: AppContext, params: URLSearchParams): Promise<OAuthClient> {
  const ids = values(params, "client_id");
  if (ids.length === 0 || ids[0] === "") {
    throw new AuthorizePageError("This authorization request does not say which application is asking (client_id is missing).");
  }
  if (ids.length > 1) throw new AuthorizePageError("This authorization request is malformed (client_id appears more than once).");
  const client = await resolveKnownClient(ctx, ids[0]!);
  if (!client && isMetadataDocumentClientId(ids[0]!)) {
    throw new AuthorizePageError(
      "This application could not be identified: its client metadata document could not be fetched or is not valid.",
    );
  }
  if (!client) {
    throw new AuthorizePageError(
      "This application is not registered with Toolgate. Reconnect from the application so that it registers again.",
    );
  }
  return client;
}

/** resolveClient, with a metadata document that cannot be fetched or validated shown as a page error. */
async function resolveKnownClient(ctx: AppContext, clientId: string): Promise<OAuthClient | null> {
  if (clientId.length > 2048) return null;
  try {
    return await resolveClient(ctx, clientId);
  } catch (error) {
    if (error instanceof OAuthError) {
      ctx.logger.info("authorization request for a client that could not be resolved", {
        error: error.code,
        description: error.description,
        ...(error.detail ? { detail: error.detail } : {}),
      });
      throw new AuthorizePageError(`This application could not be identified: ${error.description}`);
    }
    throw error;
  }
}

/**
 * RFC 6749 §3.1.2.3 / OAuth 2.1 §4.1.1: redirect_uri must be one the client registered (exact match,
 * any port for loopback per RFC 8252 §7.3); it may be left out only when exactly one is registered.
 */
export function checkRedirectUri(client: OAuthClient, params: URLSearchParams): VerifiedClient {
  const sent = values(params, "redirect_uri");
  if (sent.length > 1) {
    throw new AuthorizePageError("This authorization request is malformed (redirect_uri appears more than once).");
  }
  if (sent.length === 0) {
    if (client.redirectUris.length === 1) {
      checkRegisteredRedirectUri(client, client.redirectUris[0]!);
      return { client, redirectUri: client.redirectUris[0]!, redirectUriProvided: false };
    }
    throw new AuthorizePageError(
      "This authorization request does not say where to return (redirect_uri is missing, and the application registered several).",
    );
  }
  const redirectUri = sent[0]!;
  checkRegisteredRedirectUri(client, redirectUri);
  return { client, redirectUri, redirectUriProvided: true };
}

// --- Step 2: everything else; errors go back to the verified redirect URI ---

/** OAuth 2.1 §3.1: request parameters MUST NOT be included more than once (resource: see checkResource). */
export function checkNoRepeatedParameters(params: URLSearchParams): void {
  const seen = new Set<string>();
  for (const name of params.keys()) {
    if (name === "resource") continue;
    if (seen.has(name)) throw new OAuthError("invalid_request", `The ${name} parameter appears more than once`);
    seen.add(name);
  }
}

/** RFC 9101 §10.4 error codes: request objects (JAR) and request_uri are not supported. */
export function checkNoRequestObject(params: URLSearchParams): void {
  if (params.has("request")) throw new OAuthError("request_not_supported", "Request objects are not supported");
  if (params.has("request_uri")) throw new OAuthError("request_uri_not_supported", "request_uri is not supported");
}

/** OAuth 2.1 §4.1.1: response_type is required and must be `code` (the only flow offered). */
export function checkResponseType(params: URLSearchParams): void {
  const responseType = params.get("response_type");
  if (!responseType) throw new OAuthError("invalid_request", "response_type is required");
  if (responseType !== "code") {
    throw new OAuthError("unsupported_response_type", "Only response_type=code is supported");
  }
}

/**
 * OAuth 2.1 §4.1.1 and §7.5.1, RFC 7636 §4.3: code_challenge is required, with method S256 only
 * (`plain`, and an absent method, which means plain, are refused; RFC 9700 §2.1.1).
 */
export function checkPkce(params: URLSearchParams): string {
  const challenge = params.get("code_challenge");
  if (!challenge) throw new OAuthError("invalid_request", "code_challenge is required (PKCE with S256)");
  const method = params.get("code_challenge_method");
  if (method !== "S256") throw new OAuthError("invalid_request", "code_challenge_method must be S256");
  if (!S256_CHALLENGE.test(challenge)) {
    throw new OAuthError("invalid_request", "code_challenge must be the base64url SHA-256 of the code verifier (43 characters)");
  }
  return challenge;
}

/** RFC 6749 §3.3: scope defaults to mcp:tools; a scope we do not know is invalid_scope. */
export function checkScope(params: URLSearchParams): string {
  const scope = params.get("scope");
  if (scope === null || scope.trim() === "") return DEFAULT_SCOPE;
  const requested = scope.split(" ").filter(Boolean);
  const unknown = requested.find((s) => !(SUPPORTED_SCOPES as readonly string[]).includes(s));
  if (unknown !== undefined) throw new OAuthError("invalid_scope", `The scope ${unknown.slice(0, 100)} is not supported; use mcp:tools`);
  return [...new Set(requested)].join(" ");
}

/**
 * RFC 8707 §2 and the MCP authorization spec (Resource Parameter Implementation): resource must be
 * the exact MCP URL of a server here; tokens are bound to one server, so at most one resource.
 * The whole origin (from path-less RFC 9728 metadata) means "let the user choose".
 */
export async function checkResource(ctx: AppContext, params: URLSearchParams): Promise<{ resource: string | null; serverId: string | null }> {
  const resources = params.getAll("resource");
  if (resources.length === 0) return { resource: null, serverId: null };
  if (resources.length > 1) throw new OAuthError("invalid_target", "Only one resource may be requested: tokens are issued for one MCP server");
  const resource = resources[0]!;
  if (isOriginResource(ctx, resource)) return { resource: null, serverId: null };
  const serverId = await serverIdFromResource(ctx, resource);
  if (!serverId) throw new OAuthError("invalid_target", "resource is not the MCP URL of a server on this Toolgate");
  return { resource, serverId };
}

/** RFC 6749 §4.1.1: state is opaque and echoed; bounded so a URL cannot grow without limit. */
export function checkState(params: URLSearchParams): string | null {
  const state = params.get("state");
  if (state !== null && state.length > MAX_STATE_LENGTH) {
    throw new OAuthError("invalid_request", `state must be at most ${MAX_STATE_LENGTH} characters`);
  }
  return state;
}

/** Runs the step-2 checks on a request whose client and redirect URI are verified. */
export async function checkAuthorizationParameters(
  ctx: AppContext,
  params: URLSearchParams,
  verified: VerifiedClient,
): Promise<ValidatedAuthorizationRequest> {
  checkNoRepeatedParameters(params);
  checkNoRequestObject(params);
  checkResponseType(params);
  const codeChallenge = checkPkce(params);
  const scope = checkScope(params);
  const { resource, serverId } = await checkResource(ctx, params);
  return {
    clientId: verified.client.id,
    redirectUri: verified.redirectUri,
    redirectUriProvided: verified.redirectUriProvided,
    state: params.get("state"),
    codeChallenge,
    scope,
    resource,
    serverId,
  };
}

/**
 * The redirect URI with the response parameters added to its query (RFC 6749 §4.1.2), always
 * including `iss` (RFC 9207 §2). Existing query parameters of the registered URI are kept.
 */
export function responseRedirectUrl(ctx: AppContext, redirectUri: string, parameters: Record<string, string | null | undefined>): string {
  const url = new URL(redirectUri);
  for (const [name, value] of Object.entries(parameters)) {
    if (value !== null && value !== undefined) url.searchParams.append(name, value);
  }
  url.searchParams.append("iss", ctx.config.publicUrl);
  return url.toString();
}

/** An error response to the client (RFC 6749 §4.1.2.1), echoing state when it was sent once. */
export function errorRedirectUrl(ctx: AppContext, redirectUri: string, error: OAuthError, state: string | null): string {
  return responseRedirectUrl(ctx, redirectUri, {
    error: error.code,
    error_description: error.description,
    state,
  });
}

export type AuthorizationStart =
  /** The request was stored; send the browser to the consent page at `location`. */
  | { kind: "consent"; location: string; requestId: string }
  /** An error for the client: send the browser to `location` (its verified redirect URI). */
  | { kind: "error"; location: string; error: OAuthError };

/**
 * Validates a new authorization request and stores it. Throws AuthorizePageError for errors that
 * must stay on our page; returns an error redirect for the others.
 */
export async function startAuthorization(ctx: AppContext, params: URLSearchParams): Promise<AuthorizationStart> {
  const client = await checkClient(ctx, params);
  const verified = checkRedirectUri(client, params);
  const states = params.getAll("state");
  // A repeated state is not echoed: we cannot tell which one the client expects.
  const state = states.length === 1 ? states[0]! : null;
  try {
    checkState(params);
    const validated = await checkAuthorizationParameters(ctx, params, verified);
    const requestId = await storeAuthorizationRequest(ctx, validated);
    return { kind: "consent", location: consentPath(requestId), requestId };
  } catch (error) {
    if (!(error instanceof OAuthError)) throw error;
    ctx.logger.info("authorization request refused", { error: error.code, description: error.description, clientId: client.id });
    const safeState = state !== null && state.length <= MAX_STATE_LENGTH ? state : null;
    return { kind: "error", location: errorRedirectUrl(ctx, verified.redirectUri, error, safeState), error };
  }
}

/** The consent page of a stored request. */
export function consentPath(requestId: string, serverId?: string | null): string {
  const query = new URLSearchParams({ request: requestId });
  if (serverId) query.set("server", serverId);
  return `/authorize?${query.toString()}`;
}

/** Stores a validated request; it can be answered until ctx.config.authRequestTtlSeconds pass. */
export async function storeAuthorizationRequest(ctx: AppContext, request: ValidatedAuthorizationRequest): Promise<string> {
  const { authorizationRequests } = ctx.store.tables;
  const id = newId();
  const now = ctx.now();
  await ctx.db
    .insert(authorizationRequests)
    .values({
      id,
      clientId: request.clientId,
      redirectUri: request.redirectUri,
      redirectUriProvided: request.redirectUriProvided,
      state: request.state,
      codeChallenge: request.codeChallenge,
      scope: request.scope,
      resource: request.resource,
      serverId: request.serverId,
      createdAt: now,
      expiresAt: now + ctx.config.authRequestTtlSeconds * 1000,
    });
  return id;
}

/** A stored request that can still be answered: known, not expired, not yet approved or denied. */
export async function loadPendingRequest(ctx: AppContext, requestId: unknown): Promise<PendingAuthorizationRequest> {
  if (typeof requestId !== "string" || !REQUEST_ID.test(requestId)) throw new AuthorizePageError(MESSAGES.expired);
  const row = await ctx.store.hot.pendingRequest(ctx.db, requestId);
  if (!row || row.completedAt !== null || row.expiresAt <= ctx.now()) throw new AuthorizePageError(MESSAGES.expired);
  return { ...row, redirectUriProvided: row.redirectUriProvided === 1 };
}

/**
 * The client of a stored request, checked again: it may have been removed, or (a metadata document
 * that changed) no longer list the redirect URI. Either way the browser is not sent there.
 */
export async function reverifyClient(ctx: AppContext, request: PendingAuthorizationRequest): Promise<OAuthClient> {
  const client = await resolveKnownClient(ctx, request.clientId);
  if (!client) throw new AuthorizePageError(MESSAGES.redirectInvalid, 400, request.redirectUri);
  checkRegisteredRedirectUri(client, request.redirectUri);
  return client;
}

/**
 * What the sign-in page says when a person arrives from an authorization request: the application's
 * name (as stored; nothing is fetched) and the server the request names (its name is public in the
 * protected resource metadata). Null for anything but a live pending request.
 */
export async function describePendingRequest(ctx: AppContext, returnTo: string): Promise<{ applicationName: string; serverName: string | null } | null> {
  let url: URL;
  try {
    url = new URL(returnTo, "http://toolgate.invalid");
  } catch {
    return null;
  }
  if (url.pathname !== "/authorize") return null;
  let pending: PendingAuthorizationRequest;
  try {
    pending = await loadPendingRequest(ctx, url.searchParams.get("request"));
  } catch {
    return null;
  }
  const clientName = await ctx.store.hot.clientName(ctx.db, pending.clientId);
  if (clientName === undefined) return null;
  const server = pending.serverId
    ? await ctx.store.hot.serverName(ctx.db, pending.serverId)
    : undefined;
  return { applicationName: clientName || "Unnamed application", serverName: server ?? null };
}
