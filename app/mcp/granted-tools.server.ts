/**
 * The reads the MCP endpoint does on every request, as statements prepared once per database
 * connection (app/db/hot-sqlite.server.ts). Each is a primary-key or indexed lookup: the hot path never scans.
 */
import type { Tool } from "@modelcontextprotocol/server";
import type { AppContext } from "~/context.server";
import type { ServerUpstreamRow } from "~/db/hot.server";
import { toMcpTool, type ToolRow } from "~/servers/tool-execution.server";

export type McpServerRow = { id: string; name: string; description: string; updatedAt: number; toolsVersion: number };

export function findMcpServer(ctx: AppContext, serverId: string): Promise<McpServerRow | undefined> {
  return ctx.store.hot.mcpServer(ctx.db, serverId);
}

// Whole tools/list answers per grant, keyed by the server's tools_version, which database triggers
// bump on every change to the server's tools or to any grant's tool list for it (whichever process
// writes): a changed list is a new key, never a stale hit. Bounded; the oldest entry goes first.
const MAX_CACHED_LISTS = 10_000;
const grantLists = new Map<string, readonly Tool[]>();
// The JSON text of each cached list: the answer's bulk, serialised once instead of per request.
const listJson = new WeakMap<readonly Tool[], string>();

/** The JSON text of a list returned by listGrantedTools (undefined for any other value). */
export function toolListJson(tools: unknown): string | undefined {
  return typeof tools === "object" && tools !== null ? listJson.get(tools as readonly Tool[]) : undefined;
}

/**
 * The tools of the server that the grant covers, as MCP tool descriptions. `toolsVersion` is the
 * server's `tools_version` as read for this request (findMcpServer).
 */
export async function listGrantedTools(ctx: AppContext, grantId: string, serverId: string, toolsVersion: number): Promise<readonly Tool[]> {
  const key = `${grantId}\u0000${serverId}\u0000${toolsVersion}`;
  const cached = grantLists.get(key);
  if (cached) return cached;
  const rows = await ctx.store.hot.grantedTools(ctx.db, grantId, serverId);
  const tools: Tool[] = rows.map(toMcpTool);
  Object.freeze(tools);
  listJson.set(tools, JSON.stringify(tools));
  if (grantLists.size >= MAX_CACHED_LISTS) grantLists.delete(grantLists.keys().next().value!);
  grantLists.set(key, tools);
  return tools;
}

export type ToolLookup =
  | { kind: "granted"; tool: ToolRow; upstream: ServerUpstreamRow }
  | { kind: "not_granted" }
  | { kind: "unknown" };

/** Finds a tool of the server by name and says whether the grant covers it. */
export async function findToolForGrant(ctx: AppContext, grantId: string, serverId: string, name: string): Promise<ToolLookup> {
  const row = await ctx.store.hot.toolByName(ctx.db, grantId, serverId, name);
  if (!row) return { kind: "unknown" };
  if (!row.granted) return { kind: "not_granted" };
  const { granted: _granted, upstreamSigningSecretEnc, upstreamBaseUrl, upstreamApiAuth, upstreamApiSecretEnc, ...tool } = row;
  return {
    kind: "granted",
    tool,
    upstream: { signingSecretEnc: upstreamSigningSecretEnc, baseUrl: upstreamBaseUrl, apiAuth: upstreamApiAuth, apiSecretEnc: upstreamApiSecretEnc },
  };
}

/** A tool's input schema by name on this server (the Mcp-Param header check), or undefined. */
export async function findToolSchema(ctx: AppContext, serverId: string, name: string): Promise<unknown> {
  const inputSchema = await ctx.store.hot.toolInputSchema(ctx.db, serverId, name);
  return inputSchema !== undefined ? (JSON.parse(inputSchema) as unknown) : undefined;
}
