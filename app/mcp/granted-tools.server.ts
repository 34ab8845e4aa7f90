/**
 * The reads the MCP endpoint does on every request, as statements prepared once per database
 * connection (app/db/statements.server.ts). Each is a primary-key or indexed lookup: the hot path never scans.
 */
import type { Tool } from "@modelcontextprotocol/server";
import type { AppContext } from "~/context.server";
import { statement } from "~/db/statements.server";
import { toMcpTool, type ToolRow } from "~/servers/tool-execution.server";

export type McpServerRow = { id: string; name: string; description: string; updatedAt: number; toolsVersion: number };

type ListedToolRow = { name: string; description: string; inputSchema: string; annotations: string | null; outputSchema: string | null };

const SERVER_ROW =
  "select id, name, description, updated_at as updatedAt, tools_version as toolsVersion from mcp_servers where id = ?";

// The grant names the tools the user approved (per-tool consent); tools/list shows only those.
// Read only when the cached answer below is missing or outdated.
const GRANTED_TOOLS = `select t.name, t.description, t.input_schema as inputSchema, t.annotations,
        t.output_schema as outputSchema
   from grant_tools gt join tools t on t.id = gt.tool_id
  where gt.grant_id = ? and t.server_id = ?
  order by t.name`; // byte-wise (BINARY collation): the same order on every process and request

const TOOL_BY_NAME = `select t.id, t.server_id as serverId, t.name, t.description, t.input_schema as inputSchema,
        t.endpoint_url as endpointUrl, t.endpoint_method as endpointMethod,
        t.endpoint_headers_enc as endpointHeadersEnc, t.endpoint_params as endpointParams,
        t.annotations, t.output_schema as outputSchema, t.imported_from as importedFrom, t.created_at as createdAt,
        t.updated_at as updatedAt,
        exists(select 1 from grant_tools gt where gt.grant_id = ? and gt.tool_id = t.id) as granted
   from tools t
  where t.server_id = ? and t.name = ?`;

export function findMcpServer(ctx: AppContext, serverId: string): McpServerRow | undefined {
  return statement<[string], McpServerRow>(ctx.db, SERVER_ROW).get(serverId);
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
export function listGrantedTools(ctx: AppContext, grantId: string, serverId: string, toolsVersion: number): readonly Tool[] {
  const key = `${grantId}\u0000${serverId}\u0000${toolsVersion}`;
  const cached = grantLists.get(key);
  if (cached) return cached;
  const rows = statement<[string, string], ListedToolRow>(ctx.db, GRANTED_TOOLS).all(grantId, serverId);
  const tools: Tool[] = rows.map(toMcpTool);
  Object.freeze(tools);
  listJson.set(tools, JSON.stringify(tools));
  if (grantLists.size >= MAX_CACHED_LISTS) grantLists.delete(grantLists.keys().next().value!);
  grantLists.set(key, tools);
  return tools;
}

export type ToolLookup =
  | { kind: "granted"; tool: ToolRow }
  | { kind: "not_granted" }
  | { kind: "unknown" };

/** Finds a tool of the server by name and says whether the grant covers it. */
export function findToolForGrant(ctx: AppContext, grantId: string, serverId: string, name: string): ToolLookup {
  const row = statement<[string, string, string], ToolRow & { granted: number }>(ctx.db, TOOL_BY_NAME).get(grantId, serverId, name);
  if (!row) return { kind: "unknown" };
  if (!row.granted) return { kind: "not_granted" };
  const { granted: _granted, ...tool } = row;
  return { kind: "granted", tool };
}

const TOOL_SCHEMA = "select input_schema as inputSchema from tools where server_id = ? and name = ?";

/** A tool's input schema by name on this server (the Mcp-Param header check), or undefined. */
export function findToolSchema(ctx: AppContext, serverId: string, name: string): unknown {
  const row = statement<[string, string], { inputSchema: string }>(ctx.db, TOOL_SCHEMA).get(serverId, name);
  return row ? (JSON.parse(row.inputSchema) as unknown) : undefined;
}
