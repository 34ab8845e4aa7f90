/**
 * One long-lived SDK `Server` per Toolgate MCP server, reused by every request and client
 * (docs/decisions/008-mcp-transport.md). The SDK validates and dispatches JSON-RPC (initialize,
 * ping, tools/list, tools/call, unknown methods, bad params); Toolgate supplies the tools of the
 * caller's grant. Who the caller is travels with each request as `authInfo`, never in the server.
 */
import {
  Server,
  ProtocolError,
  ProtocolErrorCode,
  ResourceNotFoundError,
  type AuthInfo,
  type BaseContext,
  type CallToolResult,
  type MessageClassification,
  type ServerContext,
  type ServerOptions,
  type Tool,
} from "@modelcontextprotocol/server";
import { baseContext, type AppContext } from "~/context.server";
import { recordAudit } from "~/oauth/audit.server";
import { executeTool, isArgumentRefusal } from "~/servers/tool-execution.server";
import { DispatchTransport, sdkRequestEntry } from "./dispatch-transport.server";
import { findToolForGrant, listGrantedTools, type McpServerRow } from "./granted-tools.server";
import { LEGACY_REVISIONS, MODERN_REVISION, type Era } from "./revisions.server";

/** What the bearer check established, attached to every request as `authInfo.extra`. */
export type Caller = {
  grantId: string;
  userId: string;
  clientId: string;
  serverId: string;
  /** The server's tools_version read for this request (the key of cached tools/list answers). */
  toolsVersion: number;
  /** The request's context (its logger puts the request id on every line). */
  requestCtx: AppContext;
};

export function authInfoFor(caller: Caller, scopes: string[], expiresAtMs: number): AuthInfo {
  // The raw token is not carried further: Toolgate never passes it on (MCP security best practices,
  // "Token Passthrough"), so handlers have no use for it.
  return { token: "", clientId: caller.clientId, scopes, expiresAt: Math.floor(expiresAtMs / 1000), extra: caller };
}

function callerOf(context: ServerContext): Caller {
  const caller = context.http?.authInfo?.extra as Caller | undefined;
  // Unreachable through the endpoint (it always attaches the caller); refuse rather than guess.
  if (!caller?.grantId) throw new ProtocolError(ProtocolErrorCode.InvalidRequest, "Unauthenticated request");
  return caller;
}

export const TOOLGATE_VERSION = "0.1.0";

/**
 * tools/list freshness for 2026-07-28 clients (MCP "Caching"): `private`, because the list is the
 * grant's; `ttlMs: 0` (re-fetch whenever needed), because every positive lifetime could outlive
 * what changes the list: a revocation, a re-approval with other tools, or the owner editing or
 * removing a tool, none of which Toolgate can push to a client (no sessions, no notifications).
 * Re-fetching is cheap: the answer is cached here per tools_version (decision 023). Decision 037.
 */
export const TOOLS_LIST_CACHE_HINT = { ttlMs: 0, cacheScope: "private" } as const;

/**
 * Toolgate serves tools only; its prompt and resource lists are empty for everyone, always, so a
 * client may keep them (MCP "Caching": `public`, an hour). Listing them empty instead of answering
 * "method not found" lets 2026-07-28 clients cache the answer like any other list (decision 037).
 */
export const EMPTY_LIST_CACHE_HINT = { ttlMs: 3_600_000, cacheScope: "public" } as const;

/**
 * An SDK server bound to one era for its whole life. The SDK binds an instance to an era from its
 * own entries (per request, or per stdio connection); a long-lived instance shared by requests of
 * one era sets the negotiated revision itself, through the field the SDK declares for subclasses.
 */
export class EraServer extends Server {
  constructor(info: { name: string; version: string }, options: ServerOptions, revision: string | undefined) {
    super(info, options);
    if (revision) this._negotiatedProtocolVersion = revision;
  }

  /**
   * The handler context without the server-to-client helpers (`log`, `elicitInput`,
   * `requestSampling`) the SDK adds for every request: Toolgate's handlers never log to the client,
   * elicit or sample (there is no stream to carry them), and building them was a fifth of the
   * SDK's cost of a `tools/list`. The SDK's own context (request id, signal, `_meta`, the caller's
   * `authInfo`) is kept as is; `buildContext` is the SDK's extension point for subclasses.
   */
  protected override buildContext(ctx: BaseContext): ServerContext {
    return ctx as ServerContext;
  }
}

/** `ctx` is the process-wide context; each handler works with its request's (`caller.requestCtx`). */
async function buildServer(ctx: AppContext, row: McpServerRow, era: Era): Promise<Server> {
  const server = new EraServer(
    { name: row.name, version: TOOLGATE_VERSION },
    {
      capabilities: { tools: {}, prompts: {}, resources: {} },
      ...(row.description ? { instructions: row.description } : {}),
      supportedProtocolVersions: [MODERN_REVISION, ...LEGACY_REVISIONS],
      cacheHints: {
        "tools/list": TOOLS_LIST_CACHE_HINT,
        "prompts/list": EMPTY_LIST_CACHE_HINT,
        "resources/list": EMPTY_LIST_CACHE_HINT,
        "resources/templates/list": EMPTY_LIST_CACHE_HINT,
      },
    },
    era === "modern" ? MODERN_REVISION : undefined,
  );

  server.setRequestHandler("tools/list", async (_request, context) => {
    const caller = callerOf(context);
    // A frozen array shared by the requests of this grant until the server's tools change.
    return { tools: (await listGrantedTools(caller.requestCtx, caller.grantId, caller.serverId, caller.toolsVersion)) as Tool[] };
  });

  server.setRequestHandler("tools/call", async (request, context): Promise<CallToolResult> => {
    const caller = callerOf(context);
    const ctx = caller.requestCtx;
    const name = request.params.name;
    const found = await findToolForGrant(ctx, caller.grantId, caller.serverId, name);
    if (found.kind !== "granted") await recordRefusedCall(ctx, caller, name, found.kind);
    if (found.kind === "unknown") throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown tool: ${name}`);
    if (found.kind === "not_granted") {
      throw new ProtocolError(
        ProtocolErrorCode.InvalidParams,
        `Tool "${name}" was not approved for this application; reconnect and approve it to use it`,
      );
    }
    const started = performance.now();
    const result = await executeTool(ctx, found.tool, request.params.arguments ?? {}, { signal: context.mcpReq.signal, upstream: found.upstream });
    const outcome = isArgumentRefusal(result) ? "invalid_arguments" : result.isError ? "error" : "ok";
    await recordToolCall(ctx, caller, name, outcome, Math.round(performance.now() - started));
    return result;
  });

  server.setRequestHandler("prompts/list", () => ({ prompts: [] }));
  server.setRequestHandler("prompts/get", (request) => {
    throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown prompt: ${request.params.name}`);
  });
  server.setRequestHandler("resources/list", () => ({ resources: [] }));
  server.setRequestHandler("resources/templates/list", () => ({ resourceTemplates: [] }));
  server.setRequestHandler("resources/read", (request) => {
    throw new ResourceNotFoundError(request.params.uri);
  });

  server.onerror = (error) => ctx.logger.warn("mcp server error", { serverId: row.id, era, error });
  return server;
}

async function recordToolCall(ctx: AppContext, caller: Caller, tool: string, outcome: "ok" | "error" | "invalid_arguments", durationMs: number) {
  // Never the arguments: they may hold anything the user typed.
  await auditToolCall(ctx, caller, { tool, outcome, durationMs });
}

/** The longest tool name kept in the audit log for a refused call (the client chose the name). */
export const MAX_AUDITED_TOOL_NAME = 128;

/**
 * A refused call (a tool the grant does not cover, or no such tool) is audited too, with the name
 * as requested (truncated) and the reason: an owner sees an application probing for tools it was
 * not given. One prepared insert; the caller already holds a valid token for this server.
 */
async function recordRefusedCall(ctx: AppContext, caller: Caller, name: string, reason: "unknown" | "not_granted") {
  await auditToolCall(ctx, caller, { tool: name.slice(0, MAX_AUDITED_TOOL_NAME), outcome: "refused", reason });
}

/**
 * Every call's record is committed before its answer is sent. One INSERT (`commitWrite`): on SQLite
 * the calls answered in the same turn share one commit (group commit, docs/decisions/024), which is
 * most of an insert's cost; on PostgreSQL it is one autocommit statement.
 */
async function auditToolCall(ctx: AppContext, caller: Caller, detail: Record<string, unknown>) {
  try {
    await ctx.store.commitWrite((db) =>
      recordAudit(ctx, db, {
        kind: "tool.called",
        serverId: caller.serverId,
        userId: caller.userId,
        clientId: caller.clientId,
        grantId: caller.grantId,
        actor: `client:${caller.clientId}`,
        detail,
      }),
    );
  } catch (error) {
    ctx.logger.warn("could not record tool call", { error });
  }
}

type Entry = { updatedAt: number; modern: DispatchTransport; legacy: DispatchTransport };

const MAX_SERVERS = 1000;
const registries = new WeakMap<AppContext, Map<string, Entry>>();

const MODERN_CLASSIFICATION: MessageClassification = { era: "modern", revision: MODERN_REVISION };

async function connected(ctx: AppContext, row: McpServerRow, era: Era): Promise<DispatchTransport> {
  const transport = new DispatchTransport(era === "modern" ? MODERN_CLASSIFICATION : undefined);
  // connect() only wires callbacks and awaits start(), which does nothing: usable at once.
  const server = await buildServer(ctx, row, era);
  void server.connect(transport);
  transport.useRequestEntry(sdkRequestEntry(server));
  return transport;
}

/**
 * The dispatcher of the long-lived SDK server of `row` for one era, built on first use and rebuilt
 * when the server's row changes (name, description: mcp_servers.updated_at). Tools are read per
 * request, so tool edits need no rebuild. An evicted entry is not closed: requests still in flight
 * on it finish.
 */
export async function dispatcherFor(requestCtx: AppContext, row: McpServerRow, era: Era): Promise<DispatchTransport> {
  const ctx = baseContext(requestCtx);
  let registry = registries.get(ctx);
  if (!registry) {
    registry = new Map();
    registries.set(ctx, registry);
  }
  let entry = registry.get(row.id);
  if (!entry || entry.updatedAt !== row.updatedAt) {
    entry = { updatedAt: row.updatedAt, modern: await connected(ctx, row, "modern"), legacy: await connected(ctx, row, "legacy") };
    registry.delete(row.id);
    if (registry.size >= MAX_SERVERS) registry.delete(registry.keys().next().value!);
    registry.set(row.id, entry);
  }
  return era === "modern" ? entry.modern : entry.legacy;
}
