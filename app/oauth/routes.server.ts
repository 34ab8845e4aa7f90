/**
 * The authorization server's protocol endpoints (everything but /authorize, which is a Remix page).
 * Routes stay thin: parse the request, call a domain module, build the response.
 */
import type { AppContext } from "~/context.server";
import { json } from "~/http/headers.server";
import { endWith, writeFetchResponse } from "~/http/node-request.server";
import { nodeProtocolRoute, protocolRoute, type RequestInfo } from "~/http/protocol.server";
import { authenticateClient, registerClient, touchClient } from "./clients.server";
import { OAuthError, oauthErrorResponse } from "./errors.server";
import {
  authorizationServerMetadata,
  findServerForMetadata,
  findServerForMetadataFast,
  originProtectedResourceMetadata,
  protectedResourceMetadata,
} from "./metadata.server";
import {
  fetchInput,
  nodeInput,
  parseClientCredentials,
  parseFormBody,
  parseJsonBody,
  requireParam,
  type ProtocolInput,
} from "./request-parsing.server";
import { revokeToken } from "./revocation.server";
import { exchangeAuthorizationCode, refreshTokenGrant, tokenResponseBody } from "./token-grants.server";

// Browser-based MCP clients call discovery, /register, /token and /revoke from their own origin.
// These endpoints use no cookies, so an open CORS policy exposes nothing (credentials are never
// allowed cross-origin).
const CORS = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Headers": "Authorization, Content-Type, MCP-Protocol-Version",
  "Access-Control-Expose-Headers": "WWW-Authenticate",
  "Access-Control-Max-Age": "600",
};

function withCors(response: Response): Response {
  for (const [k, v] of Object.entries(CORS)) response.headers.set(k, v);
  return response;
}

function preflight(methods: string): Response {
  return new Response(null, { status: 204, headers: { ...CORS, "Access-Control-Allow-Methods": `${methods}, OPTIONS` } });
}

type Handler<R> = (request: R, ctx: AppContext, info: RequestInfo) => Response | Promise<Response>;

/** Dispatches by method; OPTIONS is the CORS preflight; other methods get 405 with Allow. */
function endpoint<R extends { method: string }>(methods: Record<string, Handler<R>>): Handler<R> {
  const allowed = Object.keys(methods).join(", ");
  return async (request, ctx, info) => {
    if (request.method === "OPTIONS") return preflight(allowed);
    const handler = Object.hasOwn(methods, request.method) ? methods[request.method] : request.method === "HEAD" ? methods.GET : undefined;
    if (!handler) {
      return withCors(
        json(
          { error: "invalid_request", error_description: `Use ${allowed} for this endpoint` },
          { status: 405, headers: { Allow: `${allowed}, OPTIONS` } },
        ),
      );
    }
    try {
      return withCors(await handler(request, ctx, info));
    } catch (error) {
      return withCors(oauthErrorResponse(error, ctx));
    }
  };
}

/** Discovery documents change rarely; a short public cache keeps clients fast and edits visible. */
function discoveryJson(body: unknown, status = 200): Response {
  return json(body, { status, headers: { "Cache-Control": status === 200 ? "public, max-age=300" : "no-store" } });
}

protocolRoute(
  /^\/\.well-known\/oauth-authorization-server$/,
  endpoint<Request>({ GET: (_request, ctx) => discoveryJson(authorizationServerMetadata(ctx)) }),
);

protocolRoute(
  /^\/\.well-known\/oauth-protected-resource$/,
  endpoint<Request>({ GET: (_request, ctx) => discoveryJson(originProtectedResourceMetadata(ctx)) }),
);

protocolRoute(
  /^\/\.well-known\/oauth-protected-resource\/mcp\/[^/]+$/,
  endpoint<Request>({
    GET: (request, ctx) => {
      // Server ids are URL-safe as they are: a segment that needs decoding names no server (and a
      // malformed one must not throw).
      const serverId = new URL(request.url).pathname.split("/").pop()!;
      const server = /^[A-Za-z0-9_-]{1,64}$/.test(serverId) ? findServerForMetadata(ctx, serverId) : null;
      if (!server) return discoveryJson({ error: "not_found", error_description: "No MCP server has this id" }, 404);
      return discoveryJson(protectedResourceMetadata(ctx, server));
    },
  }),
);

// The discovery documents again, on the Node server's fast path (GET only; everything else, and
// unknown servers, go to the routes above). The two fixed documents are serialised once per
// configuration; the per-server one costs one primary-key read.
const DISCOVERY_HEADERS = { "Content-Type": "application/json", "Cache-Control": "public, max-age=300", ...CORS };
const fixedDocuments = new WeakMap<AppContext["config"], { as: string; pr: string }>();

function fixedDocument(ctx: AppContext, which: "as" | "pr"): string {
  let docs = fixedDocuments.get(ctx.config);
  if (!docs) {
    docs = {
      as: JSON.stringify(authorizationServerMetadata(ctx)),
      pr: JSON.stringify(originProtectedResourceMetadata(ctx)),
    };
    fixedDocuments.set(ctx.config, docs);
  }
  return docs[which];
}

nodeProtocolRoute(/^\/\.well-known\/oauth-authorization-server$/, (req, res, ctx) => {
  if (req.method !== "GET") return false;
  endWith(res, 200, DISCOVERY_HEADERS, fixedDocument(ctx, "as"));
});

nodeProtocolRoute(/^\/\.well-known\/oauth-protected-resource$/, (req, res, ctx) => {
  if (req.method !== "GET") return false;
  endWith(res, 200, DISCOVERY_HEADERS, fixedDocument(ctx, "pr"));
});

// Per-server documents, kept for a second: they are public, carry no secret, and are already sent
// with max-age=300, so a client may see a rename or a deletion that much later anyway. Clients ask
// for this document before every authorization; this spares the read for bursts of them.
const SERVER_DOCUMENT_TTL_MS = 1000;
const MAX_SERVER_DOCUMENTS = 10_000;
const serverDocuments = new WeakMap<AppContext["config"], Map<string, { json: string; until: number }>>();

function serverDocument(ctx: AppContext, serverId: string): string | null {
  let documents = serverDocuments.get(ctx.config);
  if (!documents) {
    documents = new Map();
    serverDocuments.set(ctx.config, documents);
  }
  const now = performance.now();
  const hit = documents.get(serverId);
  if (hit && hit.until > now) return hit.json;
  const server = findServerForMetadataFast(ctx, serverId);
  if (!server) {
    documents.delete(serverId);
    return null;
  }
  const json = JSON.stringify(protectedResourceMetadata(ctx, server));
  if (documents.size >= MAX_SERVER_DOCUMENTS) documents.delete(documents.keys().next().value!);
  documents.set(serverId, { json, until: now + SERVER_DOCUMENT_TTL_MS });
  return json;
}

nodeProtocolRoute(/^\/\.well-known\/oauth-protected-resource\/mcp\/([A-Za-z0-9_-]{1,64})$/, (req, res, ctx, _info, match) => {
  if (req.method !== "GET") return false;
  const json = serverDocument(ctx, match[1]!);
  if (json === null) return false;
  endWith(res, 200, DISCOVERY_HEADERS, json);
});

/**
 * Registers an endpoint that reads its request through ProtocolInput twice: as a fetch-style
 * protocol route, and on the Node server's fast path (no fetch Request is built).
 */
function inputRoute(pattern: RegExp, handler: Handler<ProtocolInput>): void {
  protocolRoute(pattern, (request, ctx, info) => handler(fetchInput(request), ctx, info));
  nodeProtocolRoute(pattern, async (req, res, ctx, info) => writeFetchResponse(req, res, await handler(nodeInput(req), ctx, info)));
}

/** A JSON answer that carries or concerns credentials: never cached (RFC 6749 §5.1). */
type JsonAnswer = { status: number; body: unknown };
type JsonPost = (request: ProtocolInput, ctx: AppContext, info: RequestInfo) => Promise<JsonAnswer>;

// The headers json(…, { noStore: true }) and withCors give such an answer, as writeFetchResponse
// would write them (names in the order fetch's Headers lists them), computed once.
const JSON_ANSWER_HEADERS: Record<string, string> = {};
withCors(json(null, { noStore: true })).headers.forEach((value, name) => {
  JSON_ANSWER_HEADERS[name] = value;
});

/**
 * An endpoint whose POST answers JSON: inputRoute() with the POST handler's success written
 * straight to Node's response on the fast path (no fetch Response is built for it). Errors, the
 * CORS preflight and other methods answer exactly as endpoint() does on either path.
 */
function jsonPostRoute(pattern: RegExp, post: JsonPost): void {
  const fetchStyle = endpoint<ProtocolInput>({
    POST: async (request, ctx, info) => {
      const answer = await post(request, ctx, info);
      return json(answer.body, { status: answer.status, noStore: true });
    },
  });
  protocolRoute(pattern, (request, ctx, info) => fetchStyle(fetchInput(request), ctx, info));
  nodeProtocolRoute(pattern, async (req, res, ctx, info) => {
    if (req.method !== "POST") return writeFetchResponse(req, res, await fetchStyle(nodeInput(req), ctx, info));
    let answer: JsonAnswer;
    try {
      answer = await post(nodeInput(req), ctx, info);
    } catch (error) {
      return writeFetchResponse(req, res, withCors(oauthErrorResponse(error, ctx)));
    }
    endWith(res, answer.status, JSON_ANSWER_HEADERS, JSON.stringify(answer.body));
  });
}

/** RFC 7591 §3: dynamic client registration. */
jsonPostRoute(/^\/register$/, async (request, ctx) => {
  const body = await parseJsonBody(request);
  const { response } = registerClient(ctx, body);
  return { status: 201, body: response };
});

/** The authenticated client, marked as used (/revoke; the token grants mark it in their own transaction). */
async function authenticatedClient(request: ProtocolInput, ctx: AppContext, params: Map<string, string>) {
  const client = await authenticateClient(ctx, parseClientCredentials(request, params));
  touchClient(ctx, client.id);
  return client;
}

/** RFC 6749 §3.2: the token endpoint. */
jsonPostRoute(/^\/token$/, async (request, ctx) => {
  const params = await parseFormBody(request);
  const grantType = requireParam(params, "grant_type");
  if (grantType !== "authorization_code" && grantType !== "refresh_token") {
    throw new OAuthError("unsupported_grant_type", `The grant type ${grantType.slice(0, 100)} is not supported`);
  }
  const client = await authenticateClient(ctx, parseClientCredentials(request, params));
  const tokens =
    grantType === "authorization_code" ? await exchangeAuthorizationCode(ctx, client, params) : await refreshTokenGrant(ctx, client, params);
  return { status: 200, body: tokenResponseBody(tokens) };
});

/** RFC 7009 §2: the revocation endpoint. */
inputRoute(
  /^\/revoke$/,
  endpoint<ProtocolInput>({
    POST: async (request, ctx) => {
      const params = await parseFormBody(request);
      const token = requireParam(params, "token");
      const client = await authenticatedClient(request, ctx, params);
      const result = revokeToken(ctx, client, token, params.get("token_type_hint"));
      if (result === "not_owned") ctx.logger.warn("revocation of another client's token ignored", { clientId: client.id });
      // RFC 7009 §2.2: 200 whether or not the token was known.
      return new Response(null, { status: 200, headers: { "Cache-Control": "no-store", Pragma: "no-cache" } });
    },
  }),
);
