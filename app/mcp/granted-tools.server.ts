/**
 * The reads the MCP endpoint does on every request, as prepared statements (one per database
 * connection). Each is a primary-key or indexed lookup: the hot path never scans.
 */
import type Database from "better-sqlite3";
import type { Tool } from "@modelcontextprotocol/sdk/types.js";
import type { AppContext } from "~/context.server";
import type { ToolRow } from "~/servers/tool-execution.server";

export type McpServerRow = { id: string; name: string; description: string; updatedAt: number };

type Statements = {
  server: Database.Statement<[string], McpServerRow>;
  grantedTools: Database.Statement<[string, string], ToolVersion>;
  toolDescription: Database.Statement<[string], ListedToolRow>;
  toolByName: Database.Statement<[string, string, string], ToolRow & { granted: number }>;
};

type ToolVersion = { id: string; updatedAt: number };
type ListedToolRow = { id: string; name: string; description: string; inputSchema: string; updatedAt: number };

const statements = new WeakMap<Database.Database, Statements>();

function prepared(ctx: AppContext): Statements {
  const client = ctx.db.$client;
  let s = statements.get(client);
  if (!s) {
    s = {
      server: client.prepare(
        "select id, name, description, updated_at as updatedAt from mcp_servers where id = ?",
      ),
      // The grant names the tools the user approved (per-tool consent); tools/list shows only those.
      // Only ids and versions: descriptions and schemas (the bulk of the text) come from the cache
      // below and are read when a tool is new or was edited.
      grantedTools: client.prepare(
        `select t.id, t.updated_at as updatedAt
           from grant_tools gt join tools t on t.id = gt.tool_id
          where gt.grant_id = ? and t.server_id = ?
          order by t.name`,
      ),
      toolDescription: client.prepare(
        `select id, name, description, input_schema as inputSchema, updated_at as updatedAt from tools where id = ?`,
      ),
      toolByName: client.prepare(
        `select t.id, t.server_id as serverId, t.name, t.description, t.input_schema as inputSchema,
                t.endpoint_url as endpointUrl, t.endpoint_method as endpointMethod,
                t.endpoint_headers_enc as endpointHeadersEnc, t.created_at as createdAt,
                t.updated_at as updatedAt,
                exists(select 1 from grant_tools gt where gt.grant_id = ? and gt.tool_id = t.id) as granted
           from tools t
          where t.server_id = ? and t.name = ?`,
      ),
    };
    statements.set(client, s);
  }
  return s;
}

export function findMcpServer(ctx: AppContext, serverId: string): McpServerRow | undefined {
  return prepared(ctx).server.get(serverId);
}

// Parsed tool descriptions, keyed by tool id and version: an edit bumps updated_at, so a stale
// entry is never served. Bounded; the oldest entry goes first.
const MAX_CACHED_TOOLS = 5000;
const listedTools = new Map<string, Tool>();

function describeTool(s: Statements, version: ToolVersion): Tool | null {
  const key = `${version.id}:${version.updatedAt}`;
  let tool = listedTools.get(key);
  if (!tool) {
    const row = s.toolDescription.get(version.id);
    // Deleted by another process (the CLI) between the two reads: it is gone, so it is not listed.
    if (!row) return null;
    tool = {
      name: row.name,
      description: row.description,
      inputSchema: JSON.parse(row.inputSchema) as Tool["inputSchema"],
    };
    if (listedTools.size >= MAX_CACHED_TOOLS) listedTools.delete(listedTools.keys().next().value!);
    listedTools.set(`${row.id}:${row.updatedAt}`, tool);
  }
  return tool;
}

/** The tools of `serverId` that the grant covers, as MCP tool descriptions. */
export function listGrantedTools(ctx: AppContext, grantId: string, serverId: string): Tool[] {
  const s = prepared(ctx);
  const tools: Tool[] = [];
  for (const version of s.grantedTools.all(grantId, serverId)) {
    const tool = describeTool(s, version);
    if (tool) tools.push(tool);
  }
  return tools;
}

export type ToolLookup =
  | { kind: "granted"; tool: ToolRow }
  | { kind: "not_granted" }
  | { kind: "unknown" };

/** Finds a tool of the server by name and says whether the grant covers it. */
export function findToolForGrant(ctx: AppContext, grantId: string, serverId: string, name: string): ToolLookup {
  const row = prepared(ctx).toolByName.get(grantId, serverId, name);
  if (!row) return { kind: "unknown" };
  if (!row.granted) return { kind: "not_granted" };
  const { granted: _granted, ...tool } = row;
  return { kind: "granted", tool };
}
