/**
 * The Streamable HTTP endpoint of one MCP server, stateless with JSON answers
 * (MCP 2025-11-25 "Transports / Streamable HTTP"; docs/decisions/008-mcp-transport.md).
 *
 * Pipeline: Origin → bearer token, read with its server (a refused token on an unknown server is a
 * 404) → HTTP method → Accept / Content-Type / MCP-Protocol-Version → body size → JSON → JSON-RPC
 * shape → the SDK server. Every refusal is an
 * HTTP status with a JSON-RPC (or RFC 6750) error body; nothing here answers 500 on bad input.
 */
import {
  CallToolRequestSchema,
  InitializeRequestSchema,
  ListToolsRequestSchema,
  PingRequestSchema,
  JSONRPCMessageSchema,
  SUPPORTED_PROTOCOL_VERSIONS,
  ErrorCode,
  type JSONRPCMessage,
  type JSONRPCNotification,
  type JSONRPCRequest,
} from "@modelcontextprotocol/sdk/types.js";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AppContext } from "~/context.server";
import { bearerChallenge, checkBearer } from "./bearer.server";
import type { JsonRpcAnswer, OnAbort } from "./dispatch-transport.server";
import { authInfoFor, dispatcherFor, type Caller } from "./mcp-server.server";
import { findMcpServer, toolListJson } from "./granted-tools.server";
import { noteGrantUsed } from "./last-used.server";
import { addCorsHeaders, isAllowedOrigin, preflightHeaders } from "./origin.server";
import { endWith, nodeHeader } from "~/http/node-request.server";
import { JsonTooDeepError, parseUntrustedJson } from "~/utils/json.server";

/** Request bodies above this are refused with 413 before they are parsed. */
export const MAX_BODY_BYTES = 1024 * 1024;
/** JSON-RPC batches (allowed by MCP 2025-03-26 only) are capped like the SDK's own transport. */
export const MAX_BATCH = 100;

type JsonRpcId = string | number | null;

/**
 * The HTTP request as the endpoint needs it. Two adapters fill it: the fetch-style handler
 * (`handleMcpRequest`, tests and tools) and the Node server's direct path (`serveMcpNode`), which
 * skips building a fetch Request and Response per call (docs/decisions/008-mcp-transport.md).
 */
export type McpHttpRequest = {
  method: string;
  /** A request header by lower-case name; repeated headers joined with ", " as fetch does. */
  header(name: string): string | null;
  readBody(): Promise<Body>;
  /** Aborts (or calls back) when the HTTP client goes away. */
  signal?: AbortSignal | OnAbort;
};

/** The answer; `body` is the JSON text, or null for an empty body. */
export type McpHttpAnswer = { status: number; headers: Record<string, string>; body: string | null };

function rpcError(status: number, code: number, message: string, id: JsonRpcId = null, headers: Record<string, string> = {}): McpHttpAnswer {
  headers["Content-Type"] = "application/json";
  headers["Cache-Control"] = "no-store";
  return { status, headers, body: JSON.stringify({ jsonrpc: "2.0", error: { code, message }, id }) };
}

// In-flight requests by token family (one client installation) and the client's own request id, so
// a client's notifications/cancelled reaches its own request and nobody else's.
const inFlight = new Map<string, () => void>();
const inFlightKey = (familyId: string, id: JSONRPCRequest["id"]) => `${familyId}\u0000${typeof id}:${id}`;

/** The fetch-style endpoint (registered as a protocol route; the Node server has a faster path). */
export async function handleMcpRequest(request: Request, ctx: AppContext, serverId: string): Promise<Response> {
  const answer = await answerMcpRequest(
    {
      method: request.method,
      header: (name) => request.headers.get(name),
      readBody: () => readFetchBody(request),
      signal: request.signal,
    },
    ctx,
    serverId,
  );
  return new Response(answer.body, { status: answer.status, headers: answer.headers });
}

/** The same endpoint on Node's request and response objects, without fetch objects in between. */
export async function serveMcpNode(req: IncomingMessage, res: ServerResponse, ctx: AppContext, serverId: string): Promise<void> {
  let cancels: (() => void)[] | undefined;
  const onAbort: OnAbort = (cancel) => {
    if (req.socket.destroyed) return queueMicrotask(cancel);
    if (!cancels) {
      const list: (() => void)[] = (cancels = []);
      res.once("close", () => {
        if (!res.writableFinished) for (const c of list) c();
      });
    }
    cancels.push(cancel);
  };
  const answer = await answerMcpRequest(
    { method: req.method ?? "GET", header: (name) => nodeHeader(req, name), readBody: () => readNodeBody(req), signal: onAbort },
    ctx,
    serverId,
  );
  endWith(res, answer.status, answer.headers, answer.body, req.method === "HEAD");
}

export async function answerMcpRequest(request: McpHttpRequest, ctx: AppContext, serverId: string): Promise<McpHttpAnswer> {
  const origin = request.header("origin");
  // MCP 2025-11-25 Streamable HTTP "Security Warning": an invalid Origin gets 403 (DNS rebinding).
  if (!isAllowedOrigin(ctx, origin)) {
    return rpcError(403, ErrorCode.ConnectionClosed, `Forbidden: requests from origin ${origin} are not accepted`);
  }
  if (request.method === "OPTIONS") return { status: 204, headers: preflightHeaders(origin), body: null };

  // A valid token brings its server's row along (one read); only a refused token costs a second
  // read, to tell an unknown server (404) from a missing or bad token (401).
  const bearer = checkBearer(ctx, request.header("authorization"), serverId);
  if (!bearer.ok && !findMcpServer(ctx, serverId)) {
    return rpcError(404, ErrorCode.InvalidRequest, "Not found: this MCP server does not exist", null, corsHeaders(origin));
  }
  if (!bearer.ok) {
    const headers = corsHeaders(origin);
    headers["WWW-Authenticate"] = bearerChallenge(ctx, serverId, bearer.failure);
    headers["Content-Type"] = "application/json";
    headers["Cache-Control"] = "no-store";
    // RFC 6750 §3.1: a request with no authentication gets no error code, in the body as in the header.
    const body = bearer.failure.error
      ? { error: bearer.failure.error, error_description: bearer.failure.description }
      : { error_description: bearer.failure.description };
    return { status: bearer.failure.status, headers, body: JSON.stringify(body) };
  }
  const token = bearer.token;
  const server = token.server;
  noteGrantUsed(ctx, token.grantId);

  const headers = corsHeaders(origin);
  if (request.method === "GET" || request.method === "DELETE") {
    // Stateless: no standalone SSE stream and no session to delete. Streamable HTTP allows 405
    // for both ("Listening for Messages from the Server", "Session Management").
    headers.Allow = "POST, OPTIONS";
    return rpcError(405, ErrorCode.ConnectionClosed, "Method not allowed: this endpoint is stateless; use POST", null, headers);
  }
  if (request.method !== "POST") {
    headers.Allow = "POST, OPTIONS";
    return rpcError(405, ErrorCode.ConnectionClosed, "Method not allowed: use POST", null, headers);
  }

  const problem = checkPostHeaders(request);
  if (problem) return rpcError(problem.status, ErrorCode.ConnectionClosed, problem.message, null, headers);

  const body = await request.readBody();
  if (body.kind === "too_large") {
    // The rest of the body is never read, so the connection cannot carry another request.
    headers.Connection = "close";
    return rpcError(413, ErrorCode.InvalidRequest, `Request body too large: the limit is ${MAX_BODY_BYTES} bytes`, null, headers);
  }
  if (body.kind === "aborted") return rpcError(400, ErrorCode.ParseError, "Parse error: the request body was not received", null, headers);

  let raw: unknown;
  try {
    raw = parseUntrustedJson(body.text);
  } catch (error) {
    const why = error instanceof JsonTooDeepError ? error.message : "the body is not valid JSON";
    return rpcError(400, ErrorCode.ParseError, `Parse error: ${why}`, null, headers);
  }
  const parsed = parseMessages(raw);
  if (!parsed.ok) return rpcError(400, ErrorCode.InvalidRequest, parsed.message, parsed.id, headers);

  const caller: Caller = {
    grantId: token.grantId,
    userId: token.userId,
    clientId: token.clientId,
    serverId,
    toolsVersion: server.toolsVersion,
  };
  const requests: JSONRPCRequest[] = [];
  for (const message of parsed.messages) {
    // Already validated by the SDK's schema: the shape tells requests from notifications.
    if ("method" in message && "id" in message) requests.push(message as JSONRPCRequest);
    else if ("method" in message) handleClientNotification(token.familyId, message as JSONRPCNotification);
    // Responses from the client answer server-initiated requests, which this endpoint never sends.
  }
  if (requests.length === 0) return { status: 202, headers, body: null };

  const transport = dispatcherFor(ctx, server);
  const authInfo = authInfoFor(caller, token.scope.split(" "), token.expiresAt);
  const answerOne = async (message: JSONRPCRequest): Promise<JsonRpcAnswer> => {
    const invalid = invalidParams(message);
    if (invalid) return invalid;
    const key = inFlightKey(token.familyId, message.id);
    const { answer, cancel } = transport.dispatch(message, authInfo, request.signal);
    inFlight.set(key, cancel);
    try {
      return await answer;
    } finally {
      if (inFlight.get(key) === cancel) inFlight.delete(key);
    }
  };
  const text = Array.isArray(raw)
    ? `[${(await Promise.all(requests.map(answerOne))).map(answerJson).join(",")}]`
    : answerJson(await answerOne(requests[0]!));
  headers["Content-Type"] = "application/json";
  headers["Cache-Control"] = "no-store";
  return { status: 200, headers, body: text };
}

/**
 * `JSON.stringify(answer)`, except that a tools/list result whose list is cached keeps its
 * serialised text (granted-tools.server.ts): the same bytes, without serialising ~2 KB per request.
 * The SDK builds answers as `{ result, jsonrpc, id }`, the order kept here.
 */
export function answerJson(answer: JsonRpcAnswer): string {
  const result = "result" in answer ? (answer.result as Record<string, unknown>) : undefined;
  const tools = result && sameKeys(result, ["tools"]) ? toolListJson(result.tools) : undefined;
  if (tools === undefined || answer.jsonrpc !== "2.0" || !sameKeys(answer, ["result", "jsonrpc", "id"])) {
    return JSON.stringify(answer);
  }
  return `{"result":{"tools":${tools}},"jsonrpc":"2.0","id":${JSON.stringify(answer.id)}}`;
}

/** Whether `value`'s own enumerable keys are exactly `keys`, in that order (JSON.stringify's order). */
function sameKeys(value: object, keys: string[]): boolean {
  const own = Object.keys(value);
  return own.length === keys.length && own.every((key, i) => key === keys[i]);
}

// The SDK's own request schemas for the methods this server answers. The SDK reports a params
// mismatch as an internal error (-32603); checking first gives the JSON-RPC "Invalid params".
const REQUEST_SCHEMAS = {
  initialize: InitializeRequestSchema,
  ping: PingRequestSchema,
  "tools/list": ListToolsRequestSchema,
  "tools/call": CallToolRequestSchema,
} as const;

function invalidParams(message: JSONRPCRequest): JsonRpcAnswer | null {
  // The method is the client's string: an own-key check, or `constructor` would find Object's.
  if (!Object.hasOwn(REQUEST_SCHEMAS, message.method)) return null;
  const schema = REQUEST_SCHEMAS[message.method as keyof typeof REQUEST_SCHEMAS];
  const result = schema.safeParse(message);
  if (result.success) return null;
  const detail = result.error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.join(".") || "(request)"}: ${issue.message}`)
    .join("; ");
  return { jsonrpc: "2.0", id: message.id, error: { code: ErrorCode.InvalidParams, message: `Invalid params for ${message.method}: ${detail}` } };
}

/** A client's notifications/cancelled aborts its own in-flight request; other notifications need nothing. */
function handleClientNotification(familyId: string, message: JSONRPCNotification) {
  if (message.method !== "notifications/cancelled") return;
  const requestId = message.params?.requestId;
  if (typeof requestId !== "string" && typeof requestId !== "number") return;
  inFlight.get(inFlightKey(familyId, requestId))?.();
}

/** Accept, Content-Type and MCP-Protocol-Version checks of a POST (Streamable HTTP §"Sending Messages"). */
function checkPostHeaders(request: McpHttpRequest): { status: number; message: string } | null {
  if (!acceptsBoth(request.header("accept"))) {
    return { status: 406, message: "Not Acceptable: the Accept header must list application/json and text/event-stream" };
  }
  const contentType = (request.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (contentType !== "application/json") {
    return { status: 415, message: "Unsupported Media Type: Content-Type must be application/json" };
  }
  // Streamable HTTP "Protocol Version Header": an unsupported version is a 400. A missing header is
  // allowed (the server then assumes 2025-03-26, and the SDK answers any version it knows).
  const version = request.header("mcp-protocol-version");
  if (version !== null && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
    return {
      status: 400,
      message: `Bad Request: unsupported MCP-Protocol-Version ${version} (supported: ${SUPPORTED_PROTOCOL_VERSIONS.join(", ")})`,
    };
  }
  return null;
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
  const accepts = (type: string) =>
    ranges.some((range) => range === type || range === "*/*" || range === `${type.split("/")[0]}/*`);
  return accepts("application/json") && accepts("text/event-stream");
}

type Body = { kind: "ok"; text: string } | { kind: "too_large" } | { kind: "aborted" };

/** Reads the body, stopping as soon as it passes MAX_BODY_BYTES. */
async function readFetchBody(request: Request): Promise<Body> {
  const length = request.headers.get("content-length");
  const declared = length === null ? NaN : Number(length);
  if (declared > MAX_BODY_BYTES) return { kind: "too_large" };
  if (!request.body) return { kind: "ok", text: "" };
  if (Number.isInteger(declared)) {
    // Node's HTTP parser never delivers more than Content-Length bytes, so the cap already holds.
    try {
      return { kind: "ok", text: await request.text() };
    } catch {
      return { kind: "aborted" };
    }
  }
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > MAX_BODY_BYTES) {
        void reader.cancel().catch(() => {});
        return { kind: "too_large" };
      }
      chunks.push(value);
    }
  } catch {
    return { kind: "aborted" };
  }
  return { kind: "ok", text: Buffer.concat(chunks).toString("utf8") };
}

/** The same as readFetchBody, on Node's request stream. */
function readNodeBody(req: IncomingMessage): Promise<Body> {
  const length = req.headers["content-length"];
  if (length !== undefined && Number(length) > MAX_BODY_BYTES) return Promise.resolve({ kind: "too_large" });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > MAX_BODY_BYTES) {
        done({ kind: "too_large" });
        req.pause();
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () =>
      done({ kind: "ok", text: chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8") });
    const onAbort = () => done({ kind: "aborted" });
    let settled = false;
    function done(body: Body) {
      if (settled) return;
      settled = true;
      req.off("data", onData).off("end", onEnd).off("error", onAbort).off("aborted", onAbort);
      resolve(body);
    }
    req.on("data", onData).on("end", onEnd).on("error", onAbort).on("aborted", onAbort);
  });
}

function corsHeaders(origin: string | null): Record<string, string> {
  return addCorsHeaders({}, origin);
}

type Parsed = { ok: true; messages: JSONRPCMessage[] } | { ok: false; message: string; id: JsonRpcId };

/** Validates the JSON-RPC shape with the SDK's own schema (one message or a batch). */
function parseMessages(raw: unknown): Parsed {
  const items = Array.isArray(raw) ? raw : [raw];
  if (Array.isArray(raw) && (raw.length === 0 || raw.length > MAX_BATCH)) {
    return { ok: false, message: `Invalid Request: a batch must hold 1 to ${MAX_BATCH} messages`, id: null };
  }
  const messages: JSONRPCMessage[] = [];
  for (const item of items) {
    const result = JSONRPCMessageSchema.safeParse(item);
    if (!result.success) {
      const id = item && typeof item === "object" && "id" in item ? (item as { id: unknown }).id : null;
      return {
        ok: false,
        message: "Invalid Request: not a JSON-RPC 2.0 request, notification or response",
        id: typeof id === "string" || typeof id === "number" ? id : null,
      };
    }
    messages.push(result.data as JSONRPCMessage);
  }
  return { ok: true, messages };
}
