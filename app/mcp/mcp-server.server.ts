/**
 * One long-lived SDK `Server` per Toolgate MCP server, reused by every request and client
 * (docs/decisions/008-mcp-transport.md). The SDK validates and dispatches JSON-RPC (initialize,
 * ping, tools/list, tools/call, unknown methods, bad params); Toolgate supplies the tools of the
 * caller's grant. Who the caller is travels with each request as `authInfo`, never in the server.
 */
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import { AjvJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/ajv";
import {
  CallToolRequestSchema,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  type CallToolResult,
  type Tool,
} from "@modelcontextprotocol/sdk/types.js";
import type { AppContext } from "~/context.server";
import { recordAudit } from "~/oauth/audit.server";
import { executeTool, isArgumentRefusal } from "~/servers/tool-execution.server";
import { DispatchTransport, sdkRequestEntry } from "./dispatch-transport.server";
import { findToolForGrant, listGrantedTools, type McpServerRow } from "./granted-tools.server";

/** What the bearer check established, attached to every request as `authInfo.extra`. */
export type Caller = {
  grantId: string;
  userId: string;
  clientId: string;
  serverId: string;
  /** The server's tools_version read for this request (the key of cached tools/list answers). */
  toolsVersion: number;
};

export function authInfoFor(caller: Caller, scopes: string[], expiresAtMs: number): AuthInfo {
  // The raw token is not carried further: Toolgate never passes it on (MCP security best practices,
  // "Token Passthrough"), so handlers have no use for it.
  return { token: "", clientId: caller.clientId, scopes, expiresAt: Math.floor(expiresAtMs / 1000), extra: caller };
}

function callerOf(authInfo: AuthInfo | undefined): Caller {
  const caller = authInfo?.extra as Caller | undefined;
  // Unreachable through the endpoint (it always attaches the caller); refuse rather than guess.
  if (!caller?.grantId) throw new McpError(ErrorCode.InvalidRequest, "Unauthenticated request");
  return caller;
}

// Only used by the SDK for elicitation schemas (which Toolgate never sends); one shared instance
// instead of one Ajv per server.
const sharedValidator = new AjvJsonSchemaValidator();

export const TOOLGATE_VERSION = "0.1.0";

function buildServer(ctx: AppContext, row: McpServerRow): Server {
  const server = new Server(
    { name: row.name, version: TOOLGATE_VERSION },
    {
      capabilities: { tools: {} },
      ...(row.description ? { instructions: row.description } : {}),
      jsonSchemaValidator: sharedValidator,
    },
  );

  server.setRequestHandler(ListToolsRequestSchema, (_request, extra) => {
    const caller = callerOf(extra.authInfo);
    // A frozen array shared by the requests of this grant until the server's tools change.
    return { tools: listGrantedTools(ctx, caller.grantId, caller.serverId, caller.toolsVersion) as Tool[] };
  });

  server.setRequestHandler(CallToolRequestSchema, async (request, extra): Promise<CallToolResult> => {
    const caller = callerOf(extra.authInfo);
    const name = request.params.name;
    const found = findToolForGrant(ctx, caller.grantId, caller.serverId, name);
    if (found.kind !== "granted") recordRefusedCall(ctx, caller, name, found.kind);
    if (found.kind === "unknown") throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${name}`);
    if (found.kind === "not_granted") {
      throw new McpError(
        ErrorCode.InvalidParams,
        `Tool "${name}" was not approved for this application; reconnect and approve it to use it`,
      );
    }
    const started = performance.now();
    const result = await executeTool(ctx, found.tool, request.params.arguments ?? {}, { signal: extra.signal });
    const outcome = isArgumentRefusal(result) ? "invalid_arguments" : result.isError ? "error" : "ok";
    recordToolCall(ctx, caller, name, outcome, Math.round(performance.now() - started));
    return result;
  });

  server.onerror = (error) => ctx.logger.warn("mcp server error", { serverId: row.id, error });
  return server;
}

function recordToolCall(ctx: AppContext, caller: Caller, tool: string, outcome: "ok" | "error" | "invalid_arguments", durationMs: number) {
  // Never the arguments: they may hold anything the user typed.
  auditToolCall(ctx, caller, { tool, outcome, durationMs });
}

/** The longest tool name kept in the audit log for a refused call (the client chose the name). */
export const MAX_AUDITED_TOOL_NAME = 128;

/**
 * A refused call (a tool the grant does not cover, or no such tool) is audited too, with the name
 * as requested (truncated) and the reason: an owner sees an application probing for tools it was
 * not given. One prepared insert; the caller already holds a valid token for this server.
 */
function recordRefusedCall(ctx: AppContext, caller: Caller, name: string, reason: "unknown" | "not_granted") {
  auditToolCall(ctx, caller, { tool: name.slice(0, MAX_AUDITED_TOOL_NAME), outcome: "refused", reason });
}

function auditToolCall(ctx: AppContext, caller: Caller, detail: Record<string, unknown>) {
  try {
    recordAudit(ctx, ctx.db, {
      kind: "tool.called",
      serverId: caller.serverId,
      userId: caller.userId,
      clientId: caller.clientId,
      grantId: caller.grantId,
      actor: `client:${caller.clientId}`,
      detail,
    });
  } catch (error) {
    ctx.logger.warn("could not record tool call", { error });
  }
}

type Entry = { updatedAt: number; transport: DispatchTransport };

const MAX_SERVERS = 1000;
const registries = new WeakMap<AppContext, Map<string, Entry>>();

/**
 * The dispatcher of the SDK server for `row`, built on first use and rebuilt when the server's
 * row changes (name, description: mcp_servers.updated_at). Tools are read per request, so tool
 * edits need no rebuild. An evicted entry is not closed: requests still in flight on it finish.
 */
export function dispatcherFor(ctx: AppContext, row: McpServerRow): DispatchTransport {
  let registry = registries.get(ctx);
  if (!registry) {
    registry = new Map();
    registries.set(ctx, registry);
  }
  const hit = registry.get(row.id);
  if (hit && hit.updatedAt === row.updatedAt) return hit.transport;
  const transport = new DispatchTransport();
  // connect() only wires callbacks and awaits start(), which does nothing: the transport is
  // usable at once.
  const server = buildServer(ctx, row);
  void server.connect(transport);
  transport.useRequestEntry(sdkRequestEntry(server));
  registry.delete(row.id);
  if (registry.size >= MAX_SERVERS) registry.delete(registry.keys().next().value!);
  registry.set(row.id, { updatedAt: row.updatedAt, transport });
  return transport;
}
