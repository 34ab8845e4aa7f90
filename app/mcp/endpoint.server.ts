/**
 * The Streamable HTTP endpoint of one MCP server, `/mcp/<serverId>`: revision 2026-07-28 and the
 * 2025 revisions on one URL, classified per request by the SDK's `classifyInboundRequest`, served
 * stateless with JSON answers by one long-lived SDK server per era (docs/decisions/008, 035, 036).
 *
 * Pipeline: Origin → bearer token, read with its server (a refused token on an unknown server is a
 * 404) → HTTP method → Content-Type → body size → JSON → the SDK's classification → per era:
 *   2026-07-28: supported revision → standard headers (Mcp-Method, Mcp-Name) → Mcp-Param headers
 *               of tools/call → the modern SDK server;
 *   2025:       Accept → MCP-Protocol-Version → the legacy SDK server (batches of 1 to 100).
 * Every refusal is an HTTP status with a JSON-RPC error (or, for the bearer check, an RFC 6750
 * challenge); nothing here answers 500 on bad input.
 */
import {
  classifyInboundRequest,
  isJsonContentType,
  ProtocolErrorCode,
  UnsupportedProtocolVersionError,
  type AuthInfo,
  type InboundLegacyRoute,
  type InboundModernRoute,
  type JSONRPCMessage,
  type JSONRPCNotification,
  type JSONRPCRequest,
  type RequestId,
} from "@modelcontextprotocol/server";
import type { AppContext } from "~/context.server";
import type { ProtocolAnswer, ProtocolRequest } from "~/http/protocol.server";
import { OAuthError, oauthErrorAnswer } from "~/oauth/errors.server";
import { bearerChallenge, checkBearer } from "./bearer.server";
import type { Dispatched, JsonRpcAnswer } from "./dispatch-transport.server";
import { findMcpServer, findToolSchema, toolListJson } from "./granted-tools.server";
import { noteGrantUsed } from "./last-used.server";
import { authInfoFor, dispatcherFor, type Caller } from "./mcp-server.server";
import { addCorsHeaders, isAllowedOrigin, preflightHeaders } from "./origin.server";
import { JsonTooDeepError, parseUntrustedJson } from "~/utils/json.server";
import { checkParamHeaders, paramHeaderDeclarations } from "./param-headers.server";
import { LEGACY_REVISIONS, MODERN_REVISION } from "./revisions.server";
import { checkStandardHeaders } from "./standard-headers.server";

/** Request bodies above this are refused with 413 before they are parsed. */
export const MAX_BODY_BYTES = 1024 * 1024;
/** JSON-RPC batches (2025-03-26 only; never in the modern era) are capped like the SDK's own. */
export const MAX_BATCH = 100;

// The SDK's generic "server error" code, used by its HTTP transports for refusals at the HTTP level.
const HTTP_REFUSAL = -32000;

type RpcError = { code: number; message: string; data?: unknown };

/** A JSON-RPC error answer: the one place the endpoint shapes one (the error itself comes from the SDK). */
function rpcErrorAnswer(status: number, error: RpcError, id: RequestId | null, headers: Record<string, string>): ProtocolAnswer {
  headers["Content-Type"] = "application/json";
  headers["Cache-Control"] = "no-store";
  const body: { jsonrpc: "2.0"; error: RpcError; id: RequestId | null } = {
    jsonrpc: "2.0",
    error: { code: error.code, message: error.message, ...(error.data !== undefined && { data: error.data }) },
    id,
  };
  return { status, headers, body: JSON.stringify(body) };
}

/** The id to echo on an error: the single request's own id when it has one (MCP "unsupported version"). */
function echoableId(body: unknown): RequestId | null {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return null;
  const { method, id } = body as { method?: unknown; id?: unknown };
  if (typeof method !== "string") return null;
  return typeof id === "string" || typeof id === "number" ? id : null;
}

/**
 * What a crash inside the endpoint answers (the route table's error mapper for /mcp): a JSON-RPC
 * internal error, never OAuth JSON, with no detail.
 */
export function mcpCrashAnswer(): ProtocolAnswer {
  return rpcErrorAnswer(500, { code: ProtocolErrorCode.InternalError, message: "Internal server error" }, null, {});
}

// In-flight legacy requests by token family (one client installation) and the client's own request
// id, so a client's notifications/cancelled reaches its own request and nobody else's.
const inFlight = new Map<string, () => void>();
const inFlightKey = (familyId: string, id: RequestId) => `${familyId}\u0000${typeof id}:${id}`;

export async function answerMcp(request: ProtocolRequest, ctx: AppContext, serverId: string): Promise<ProtocolAnswer> {
  const origin = request.header("origin");
  // MCP Streamable HTTP "Security Warning": an invalid Origin gets 403 (DNS rebinding).
  if (!isAllowedOrigin(ctx, origin)) {
    return rpcErrorAnswer(403, { code: HTTP_REFUSAL, message: `Forbidden: requests from origin ${origin} are not accepted` }, null, {});
  }
  if (request.method === "OPTIONS") return { status: 204, headers: preflightHeaders(origin), body: null };

  // A valid token brings its server's row along (one read); only a refused token costs a second
  // read, to tell an unknown server (404) from a missing or bad token (401).
  const bearer = await checkBearer(ctx, request.header("authorization"), serverId, { method: request.method, dpop: request.header("dpop") });
  if (!bearer.ok && !await findMcpServer(ctx, serverId)) {
    return rpcErrorAnswer(404, { code: ProtocolErrorCode.InvalidRequest, message: "Not found: this MCP server does not exist" }, null, corsHeaders(origin));
  }
  if (!bearer.ok) {
    const { failure } = bearer;
    const error = new OAuthError(failure.error ?? "invalid_token", failure.description, failure.status).withHeader(
      "WWW-Authenticate",
      bearerChallenge(ctx, serverId, failure),
    );
    const answer = oauthErrorAnswer(error, ctx);
    for (const [name, value] of Object.entries(failure.headers ?? {})) answer.headers[name] = value;
    // RFC 6750 §3.1: a request with no authentication gets no error code, in the body as in the header.
    if (!failure.error) answer.body = JSON.stringify({ error_description: failure.description });
    addCorsHeaders(answer.headers as Record<string, string>, origin);
    return answer;
  }
  const token = bearer.token;
  noteGrantUsed(ctx, token.grantId);

  const headers = corsHeaders(origin);
  if (request.method !== "POST") {
    // Stateless in both eras: no standalone SSE stream, no session to delete (Streamable HTTP
    // allows 405 for both).
    headers.Allow = "POST, OPTIONS";
    return rpcErrorAnswer(405, { code: HTTP_REFUSAL, message: "Method not allowed: this endpoint is stateless; use POST" }, null, headers);
  }
  if (!isJsonContentType(request.header("content-type"))) {
    return rpcErrorAnswer(415, { code: HTTP_REFUSAL, message: "Unsupported Media Type: Content-Type must be application/json" }, null, headers);
  }
  const read = await request.readBody(MAX_BODY_BYTES);
  if (read.kind === "too_large") {
    // The rest of the body is never read, so the connection cannot carry another request.
    headers.Connection = "close";
    return rpcErrorAnswer(413, { code: HTTP_REFUSAL, message: `Payload Too Large: the request body must not exceed ${MAX_BODY_BYTES} bytes` }, null, headers);
  }
  if (read.kind === "aborted") return rpcErrorAnswer(400, { code: ProtocolErrorCode.ParseError, message: "Parse error: the request body was not received" }, null, headers);
  let body: unknown;
  try {
    // Depth-capped before parsing: JSON from outside never nests past 64 levels (decision 026).
    body = parseUntrustedJson(read.text);
  } catch (error) {
    const why = error instanceof JsonTooDeepError ? error.message : "the request body is not valid JSON";
    return rpcErrorAnswer(400, { code: ProtocolErrorCode.ParseError, message: `Parse error: ${why}` }, null, headers);
  }

  const route = classifyInboundRequest({
    httpMethod: "POST",
    protocolVersionHeader: request.header("mcp-protocol-version") ?? undefined,
    mcpMethodHeader: request.header("mcp-method") ?? undefined,
    mcpNameHeader: request.header("mcp-name") ?? undefined,
    body,
  });
  const caller: Caller = {
    grantId: token.grantId,
    userId: token.userId,
    clientId: token.clientId,
    serverId,
    toolsVersion: token.server.toolsVersion,
    requestCtx: ctx,
  };
  const authInfo = authInfoFor(caller, token.scope.split(" "), token.expiresAt);
  const served: Served = { ctx, request, headers, caller, authInfo, familyId: token.familyId, server: token.server };
  switch (route.kind) {
    case "reject":
      return rpcErrorAnswer(route.httpStatus, route, echoableId(body), headers);
    case "modern":
      return serveModern(served, route);
    case "legacy":
      return serveLegacy(served, route, body);
  }
}

type Served = {
  ctx: AppContext;
  request: ProtocolRequest;
  headers: Record<string, string>;
  caller: Caller;
  authInfo: AuthInfo;
  familyId: string;
  server: Parameters<typeof dispatcherFor>[1];
};

/** A 2026-07-28 request: one message, its `_meta` envelope already checked by the classifier. */
async function serveModern(served: Served, route: InboundModernRoute): Promise<ProtocolAnswer> {
  const { request, headers } = served;
  const revision = route.classification.revision;
  const id = route.messageKind === "request" ? route.message.id : null;
  if (revision !== MODERN_REVISION) {
    const error = new UnsupportedProtocolVersionError({ supported: [MODERN_REVISION], requested: revision ?? "unknown" });
    return rpcErrorAnswer(400, error, id, headers);
  }
  // The modern era has no client notifications Toolgate acts on (cancelling is closing the request).
  if (route.messageKind === "notification") return { status: 202, headers, body: null };
  const message = route.message;
  const standard = checkStandardHeaders(
    { protocolVersion: request.header("mcp-protocol-version"), method: request.header("mcp-method"), name: request.header("mcp-name") },
    message.method,
    message.params,
    revision,
  );
  if (standard) return rpcErrorAnswer(standard.httpStatus, standard.error, message.id, headers);
  if (message.method === "tools/call") {
    const rejected = await checkToolCallParamHeaders(served, message);
    if (rejected) return rejected;
  }
  const dispatched = await dispatch(served, "modern", message);
  return {
    status: dispatched.beforeHandler && "error" in dispatched.answer ? ladderStatus(dispatched.answer.error.code) : 200,
    headers: jsonHeaders(headers),
    body: answerJson(dispatched.answer),
  };
}

/**
 * MCP 2026-07-28 "Custom request headers": a tool whose input schema marks a parameter with
 * `x-mcp-header` is called with that argument mirrored in `Mcp-Param-<Name>`; a missing or
 * disagreeing header is refused before the tool is looked up for the call. The schema is read by
 * name for this server only; whether the grant covers the tool is decided later, by the handler.
 */
async function checkToolCallParamHeaders(served: Served, message: JSONRPCRequest): Promise<ProtocolAnswer | null> {
  const params = message.params as { name?: unknown; arguments?: unknown } | undefined;
  if (typeof params?.name !== "string") return null;
  const schema = await findToolSchema(served.ctx, served.caller.serverId, params.name);
  if (schema === undefined) return null;
  const declarations = paramHeaderDeclarations(schema);
  if (declarations.length === 0) return null;
  const rejected = checkParamHeaders(declarations, params.arguments, (name) => served.request.header(name));
  return rejected ? rpcErrorAnswer(rejected.httpStatus, rejected.error, message.id, served.headers) : null;
}

// The SDK's statuses for errors its pre-handler gates give (its per-request transport keeps the
// same table): an unknown or removed method is 404, other gate errors 400. Errors from handlers
// stay in-band on 200.
function ladderStatus(code: number): number {
  if (code === ProtocolErrorCode.MethodNotFound) return 404;
  if (code === ProtocolErrorCode.InvalidParams || code === ProtocolErrorCode.InternalError) return 200;
  return 400;
}

/** A 2025-era request, notification, posted response or batch of them. */
async function serveLegacy(served: Served, route: InboundLegacyRoute, body: unknown): Promise<ProtocolAnswer> {
  const { request, headers } = served;
  // Streamable HTTP (2025) "Sending Messages to the Server": the client accepts both answers.
  if (!acceptsBoth(request.header("accept"))) {
    return rpcErrorAnswer(406, { code: HTTP_REFUSAL, message: "Not Acceptable: the Accept header must list application/json and text/event-stream" }, null, headers);
  }
  // "Protocol Version Header": an unsupported version is a 400. A missing header is allowed (the
  // server then assumes 2025-03-26; the SDK answers any version it serves).
  const version = request.header("mcp-protocol-version");
  if (version !== null && !(LEGACY_REVISIONS as readonly string[]).includes(version.trim())) {
    const message = `Bad Request: unsupported MCP-Protocol-Version ${version} (supported: ${[MODERN_REVISION, ...LEGACY_REVISIONS].join(", ")})`;
    return rpcErrorAnswer(400, { code: HTTP_REFUSAL, message }, echoableId(body), headers);
  }
  const messages = (Array.isArray(body) ? body : [body]) as JSONRPCMessage[];
  if (route.reason === "batch" && messages.length > MAX_BATCH) {
    return rpcErrorAnswer(400, { code: ProtocolErrorCode.InvalidRequest, message: `Invalid Request: a batch must hold 1 to ${MAX_BATCH} messages` }, null, headers);
  }
  const requests: JSONRPCRequest[] = [];
  for (const message of messages) {
    // The classifier has checked every element's shape; the shape tells requests from notifications.
    if ("method" in message && "id" in message) requests.push(message as JSONRPCRequest);
    else if ("method" in message) handleClientNotification(served.familyId, message as JSONRPCNotification);
    // Responses from the client answer server-initiated requests, which this endpoint never sends.
  }
  if (requests.length === 0) return { status: 202, headers, body: null };
  const text = Array.isArray(body)
    ? `[${(await Promise.all(requests.map((r) => dispatch(served, "legacy", r)))).map((d) => answerJson(d.answer)).join(",")}]`
    : answerJson((await dispatch(served, "legacy", requests[0]!)).answer);
  return { status: 200, headers: jsonHeaders(headers), body: text };
}

async function dispatch(served: Served, era: "modern" | "legacy", message: JSONRPCRequest): Promise<Dispatched> {
  const transport = await dispatcherFor(served.ctx, served.server, era);
  const { answer, cancel } = transport.dispatch(message, served.authInfo);
  served.request.onAbort(cancel);
  if (era === "modern") return answer;
  const key = inFlightKey(served.familyId, message.id);
  inFlight.set(key, cancel);
  try {
    return await answer;
  } finally {
    if (inFlight.get(key) === cancel) inFlight.delete(key);
  }
}

/** A client's notifications/cancelled aborts its own in-flight request; other notifications need nothing. */
function handleClientNotification(familyId: string, message: JSONRPCNotification) {
  if (message.method !== "notifications/cancelled") return;
  const requestId = (message.params as { requestId?: unknown } | undefined)?.requestId;
  if (typeof requestId !== "string" && typeof requestId !== "number") return;
  inFlight.get(inFlightKey(familyId, requestId))?.();
}

// A random marker no client can predict, standing in for a cached tool list while the rest of the
// answer is serialised (see answerJson).
const TOOLS_MARKER = `tools-${crypto.randomUUID()}`;
const TOOLS_MARKER_JSON = JSON.stringify(TOOLS_MARKER);

/**
 * `JSON.stringify(answer)`, except that a tools/list result whose list is cached keeps its
 * serialised text (granted-tools.server.ts): the same JSON, without serialising ~2 KB per request.
 * The list is the first thing in the answer (`result` comes before `id`, `tools` first in it), so
 * the marker's first occurrence is the list's place even if the client chose the marker as its id.
 */
export function answerJson(answer: JsonRpcAnswer): string {
  const result = "result" in answer ? (answer.result as Record<string, unknown>) : undefined;
  const tools = result ? toolListJson(result.tools) : undefined;
  if (tools === undefined) return JSON.stringify(answer);
  const text = JSON.stringify({ result: { ...result, tools: TOOLS_MARKER }, jsonrpc: answer.jsonrpc, id: answer.id });
  return text.replace(TOOLS_MARKER_JSON, () => tools);
}

function jsonHeaders(headers: Record<string, string>): Record<string, string> {
  headers["Content-Type"] = "application/json";
  headers["Cache-Control"] = "no-store";
  return headers;
}

// Clients send the same Accept header on every request: the verdict is remembered (bounded).
const acceptVerdicts = new Map<string, boolean>();

function acceptsBoth(accept: string | null): boolean {
  if (!accept) return false;
  let verdict = acceptVerdicts.get(accept);
  if (verdict === undefined) {
    verdict = parseAcceptsBoth(accept);
    if (acceptVerdicts.size >= 256) acceptVerdicts.clear();
    acceptVerdicts.set(accept, verdict);
  }
  return verdict;
}

function parseAcceptsBoth(accept: string): boolean {
  const ranges = accept
    .split(",")
    .map((part) => part.split(";"))
    .filter((params) => !params.slice(1).some((p) => /^\s*q\s*=\s*0(\.0*)?\s*$/.test(p)))
    .map((params) => params[0]!.trim().toLowerCase());
  const accepts = (type: string) => ranges.some((range) => range === type || range === "*/*" || range === `${type.split("/")[0]}/*`);
  return accepts("application/json") && accepts("text/event-stream");
}

function corsHeaders(origin: string | null): Record<string, string> {
  return addCorsHeaders({}, origin);
}
