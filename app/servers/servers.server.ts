import { and, asc, count, eq } from "drizzle-orm";
import type { z } from "zod";
import type { AppContext } from "~/context.server";
import { isUniqueViolation } from "~/db/errors.server";
import type { mcpServers } from "~/db/schema";
import { decryptText, encryptText, newId, randomToken } from "~/utils/crypto.server";
import { baseUrlSchema } from "./api-credentials.server";
import {
  serverInputSchema,
  toolDefinitionListSchema,
  toolDefinitionSchema,
  type ToolDefinition,
  type ToolDefinitionInput,
} from "./tool-definition.server";
import { listToolsForServer, type ToolRow } from "./tool-execution.server";

export type ServerRow = typeof mcpServers.$inferSelect;
/** A server as pages and the CLI see it: never the sealed signing secret or API secret. */
export type ServerSummary = Omit<ServerRow, "signingSecretEnc" | "apiSecretEnc"> & { toolCount: number; hasApiSecret: boolean };

/**
 * Invalid input, with messages keyed by field path ("name", "tools.0.endpoint.url"), so a form can
 * show each one next to its field and the CLI can print them.
 */
export class ValidationError extends Error {
  override name = "ValidationError";
  constructor(public readonly fieldErrors: Record<string, string>) {
    super(Object.entries(fieldErrors).map(([k, v]) => `${k}: ${v}`).join("\n"));
  }
}

/** Turns a zod error into field messages (first message per field). */
export function fieldErrorsOf(error: z.ZodError, prefix = ""): Record<string, string> {
  const out: Record<string, string> = {};
  for (const issue of error.issues) {
    const key = [prefix, ...issue.path.map(String)].filter(Boolean).join(".") || "form";
    out[key] ??= issue.message;
  }
  return out;
}

function parseOrThrow<S extends z.ZodTypeAny>(schema: S, input: unknown, prefix = ""): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw new ValidationError(fieldErrorsOf(result.error, prefix));
  return result.data;
}

/** A new signing secret: 256 random bits with a prefix that makes it recognisable in a leak scan. */
export function newSigningSecret(): string {
  return `tgs_${randomToken(32)}`;
}

function summary(row: ServerRow, toolCount: number): ServerSummary {
  const { signingSecretEnc: _sealed, apiSecretEnc, ...rest } = row;
  void _sealed;
  return { ...rest, toolCount, hasApiSecret: apiSecretEnc !== null };
}

function toolRowValues(ctx: AppContext, serverId: string, tool: ToolDefinition, now: number) {
  const headers = tool.endpoint.headers;
  return {
    name: tool.name,
    description: tool.description,
    inputSchema: JSON.stringify(tool.inputSchema),
    endpointUrl: tool.endpoint.url,
    endpointMethod: tool.endpoint.method,
    endpointHeadersEnc: Object.keys(headers).length ? encryptText(ctx.secrets.dataKey, JSON.stringify(headers)) : null,
    endpointParams: tool.endpoint.params && Object.keys(tool.endpoint.params).length ? JSON.stringify(tool.endpoint.params) : null,
    annotations: tool.annotations && Object.keys(tool.annotations).length ? JSON.stringify(tool.annotations) : null,
    outputSchema: tool.outputSchema ? JSON.stringify(tool.outputSchema) : null,
    serverId,
    updatedAt: now,
  };
}

/** A path endpoint ("/orders/{id}") needs the server's base URL to resolve against. */
function checkEndpointBase(tools: ToolDefinition[], baseUrl: string | null, prefix = "") {
  const errors: Record<string, string> = {};
  tools.forEach((tool, i) => {
    if (tool.endpoint.url.startsWith("/") && !baseUrl) {
      errors[[prefix, prefix ? String(i) : "", "endpoint.url"].filter(Boolean).join(".")] =
        "This is a path on the server's base URL; set the server's base URL first (Upstream API on the server's page).";
    }
  });
  if (Object.keys(errors).length) throw new ValidationError(errors);
}

const isUniqueToolName = (error: unknown) =>
  isUniqueViolation(error, { name: "tools_server_name_unique", sqliteColumns: "tools.server_id, tools.name" });

/**
 * Creates a server and its tools in one transaction: a bad tool leaves nothing behind. Returns the
 * signing secret in clear text; it is shown once and only stored encrypted.
 */
export async function createServer(
  ctx: AppContext,
  input: { ownerId: string; name: unknown; description?: unknown; tools?: unknown; baseUrl?: unknown },
): Promise<{ server: ServerSummary; signingSecret: string }> {
  const { mcpServers, tools } = ctx.store.tables;
  const fields = parseOrThrow(serverInputSchema, { name: input.name, description: input.description ?? "" });
  const baseUrl = input.baseUrl === undefined || input.baseUrl === "" ? null : parseOrThrow(baseUrlSchema, input.baseUrl, "baseUrl");
  const toolList = parseOrThrow(toolDefinitionListSchema, input.tools ?? [], "tools");
  checkEndpointBase(toolList, baseUrl, "tools");
  const now = ctx.now();
  const signingSecret = newSigningSecret();
  const row: ServerRow = {
    id: newId(),
    ownerId: input.ownerId,
    name: fields.name,
    description: fields.description,
    signingSecretEnc: encryptText(ctx.secrets.dataKey, signingSecret),
    createdAt: now,
    updatedAt: now,
    toolsVersion: 0,
    dpopRequired: false,
    enterpriseAccess: false,
    enterpriseTools: "[]",
    baseUrl,
    apiAuth: null,
    apiSecretEnc: null,
  };
  await ctx.store.transaction(async (tx) => {
    await tx.insert(mcpServers).values(row);
    for (const tool of toolList) await tx.insert(tools).values({ id: newId(), createdAt: now, ...toolRowValues(ctx, row.id, tool, now) });
  });
  ctx.logger.info("server created", { serverId: row.id, ownerId: row.ownerId, tools: toolList.length });
  return { server: summary(row, toolList.length), signingSecret };
}

/** The owner's servers, by name. */
export function listServers(ctx: AppContext, ownerId: string): Promise<ServerSummary[]> {
  const { mcpServers } = ctx.store.tables;
  return listServerRows(ctx, eq(mcpServers.ownerId, ownerId));
}

/** Every server (CLI), by owner then name, with the owner's email. */
export async function listAllServers(ctx: AppContext, ownerId?: string): Promise<(ServerSummary & { ownerEmail: string })[]> {
  const { mcpServers, tools, users } = ctx.store.tables;
  const rows = (await ctx.db
    .select({ server: mcpServers, ownerEmail: users.email, toolCount: count(tools.id) })
    .from(mcpServers)
    .innerJoin(users, eq(users.id, mcpServers.ownerId))
    .leftJoin(tools, eq(tools.serverId, mcpServers.id))
    .where(ownerId ? eq(mcpServers.ownerId, ownerId) : undefined)
    // The owner's columns come through their primary key (PostgreSQL asks for it; SQLite does not).
    .groupBy(mcpServers.id, users.id)
    .orderBy(asc(users.email), asc(mcpServers.name)));
  return rows.map((r) => ({ ...summary(r.server, r.toolCount), ownerEmail: r.ownerEmail }));
}

async function listServerRows(ctx: AppContext, where: ReturnType<typeof eq>): Promise<ServerSummary[]> {
  const { mcpServers, tools } = ctx.store.tables;
  return (await ctx.db
    .select({ server: mcpServers, toolCount: count(tools.id) })
    .from(mcpServers)
    .leftJoin(tools, eq(tools.serverId, mcpServers.id))
    .where(where)
    .groupBy(mcpServers.id)
    .orderBy(asc(mcpServers.name), asc(mcpServers.createdAt)))
    .map((r) => summary(r.server, r.toolCount));
}

/**
 * One of the owner's servers, or null. Someone else's server id gives null exactly like a missing
 * one, so a page answers 404 and reveals nothing about other people's servers.
 */
export async function getServer(ctx: AppContext, ownerId: string, serverId: string): Promise<ServerSummary | null> {
  const { mcpServers } = ctx.store.tables;
  const row = (await ctx.db
    .select()
    .from(mcpServers)
    .where(and(eq(mcpServers.id, serverId), eq(mcpServers.ownerId, ownerId))).limit(1))[0];
  if (!row) return null;
  return summary(row, (await listToolsForServer(ctx, row.id)).length);
}

/** A server by id alone, for the MCP endpoint and the authorization flow (no ownership check). */
export async function findServerById(ctx: AppContext, serverId: string): Promise<ServerSummary | null> {
  const { mcpServers } = ctx.store.tables;
  const row = (await ctx.db.select().from(mcpServers).where(eq(mcpServers.id, serverId)).limit(1))[0];
  return row ? summary(row, (await listToolsForServer(ctx, row.id)).length) : null;
}

/** Updates name and description; false when the server is not the owner's. */
export async function updateServer(ctx: AppContext, ownerId: string, serverId: string, input: { name: unknown; description?: unknown }): Promise<boolean> {
  const { mcpServers } = ctx.store.tables;
  const fields = parseOrThrow(serverInputSchema, { name: input.name, description: input.description ?? "" });
  const result = await ctx.db
    .update(mcpServers)
    .set({ name: fields.name, description: fields.description, updatedAt: ctx.now() })
    .where(and(eq(mcpServers.id, serverId), eq(mcpServers.ownerId, ownerId)))
    .returning({ id: mcpServers.id });
  return result.length > 0;
}

/** Deletes the server; its tools, grants and tokens go with it (foreign keys cascade). */
export async function deleteServer(ctx: AppContext, ownerId: string, serverId: string): Promise<boolean> {
  const { mcpServers } = ctx.store.tables;
  const result = await ctx.db.delete(mcpServers).where(and(eq(mcpServers.id, serverId), eq(mcpServers.ownerId, ownerId))).returning({ id: mcpServers.id });
  if (result.length > 0) ctx.logger.info("server deleted", { serverId, ownerId });
  return result.length > 0;
}

/** Replaces the signing secret and returns the new one (shown once). Null when not the owner's. */
export async function rotateSigningSecret(ctx: AppContext, ownerId: string, serverId: string): Promise<string | null> {
  const { mcpServers } = ctx.store.tables;
  const secret = newSigningSecret();
  const result = await ctx.db
    .update(mcpServers)
    .set({ signingSecretEnc: encryptText(ctx.secrets.dataKey, secret), updatedAt: ctx.now() })
    .where(and(eq(mcpServers.id, serverId), eq(mcpServers.ownerId, ownerId)))
    .returning({ id: mcpServers.id });
  if (result.length === 0) return null;
  ctx.logger.info("signing secret rotated", { serverId });
  return secret;
}

/** The signing secret in clear text (tool execution and tests). */
export async function readSigningSecret(ctx: AppContext, serverId: string): Promise<string | null> {
  const { mcpServers } = ctx.store.tables;
  const row = (await ctx.db.select({ enc: mcpServers.signingSecretEnc }).from(mcpServers).where(eq(mcpServers.id, serverId)).limit(1))[0];
  return row ? decryptText(ctx.secrets.dataKey, row.enc) : null;
}

// ---- tools ------------------------------------------------------------------------------------

/** The owner's server's tools; null when the server is not the owner's. */
export async function listTools(ctx: AppContext, ownerId: string, serverId: string): Promise<ToolRow[] | null> {
  if (!await getServer(ctx, ownerId, serverId)) return null;
  return listToolsForServer(ctx, serverId);
}

/** One tool of one of the owner's servers, or null. */
export async function getTool(ctx: AppContext, ownerId: string, serverId: string, toolId: string): Promise<ToolRow | null> {
  const { mcpServers, tools } = ctx.store.tables;
  const row = (await ctx.db
    .select({ tool: tools })
    .from(tools)
    .innerJoin(mcpServers, eq(mcpServers.id, tools.serverId))
    .where(and(eq(tools.id, toolId), eq(tools.serverId, serverId), eq(mcpServers.ownerId, ownerId))).limit(1))[0];
  return row?.tool ?? null;
}

/** A tool's definition as the forms and the CLI show it (headers decrypted). */
export function toolDefinitionOf(ctx: AppContext, tool: ToolRow): ToolDefinition {
  const extra: Partial<ToolDefinition> = {};
  if (tool.annotations) extra.annotations = JSON.parse(tool.annotations) as ToolDefinition["annotations"];
  if (tool.outputSchema) extra.outputSchema = JSON.parse(tool.outputSchema) as Record<string, unknown>;
  return {
    name: tool.name,
    description: tool.description,
    inputSchema: JSON.parse(tool.inputSchema) as Record<string, unknown>,
    endpoint: {
      url: tool.endpointUrl,
      method: tool.endpointMethod as ToolDefinition["endpoint"]["method"],
      headers: tool.endpointHeadersEnc
        ? (JSON.parse(decryptText(ctx.secrets.dataKey, tool.endpointHeadersEnc)) as Record<string, string>)
        : {},
      ...(tool.endpointParams ? { params: JSON.parse(tool.endpointParams) as ToolDefinition["endpoint"]["params"] } : {}),
    },
    ...extra,
  };
}

const duplicateName = (name: string) => new ValidationError({ name: `A tool named ${name} already exists on this server.` });

/** Adds a tool to an owner's server. Null when the server is not theirs; ValidationError on bad input. */
export async function addTool(ctx: AppContext, ownerId: string | null, serverId: string, input: ToolDefinitionInput | unknown): Promise<ToolRow | null> {
  const { tools } = ctx.store.tables;
  const server = ownerId === null ? await findServerById(ctx, serverId) : await getServer(ctx, ownerId, serverId);
  if (!server) return null;
  const tool = parseOrThrow(toolDefinitionSchema, input);
  checkEndpointBase([tool], server.baseUrl);
  const now = ctx.now();
  const row = { id: newId(), createdAt: now, importedFrom: null, ...toolRowValues(ctx, serverId, tool, now) };
  try {
    await ctx.db.insert(tools).values(row);
  } catch (error) {
    if (isUniqueToolName(error)) throw duplicateName(tool.name);
    throw error;
  }
  return row;
}

/** Replaces a tool's definition. Null when the tool is not on one of the owner's servers. */
export async function updateTool(ctx: AppContext, ownerId: string, serverId: string, toolId: string, input: unknown): Promise<ToolRow | null> {
  const { tools } = ctx.store.tables;
  const existing = await getTool(ctx, ownerId, serverId, toolId);
  if (!existing) return null;
  const tool = parseOrThrow(toolDefinitionSchema, input);
  checkEndpointBase([tool], (await getServer(ctx, ownerId, serverId))?.baseUrl ?? null);
  // updatedAt must change on every edit: the validator cache is keyed by it.
  const now = Math.max(ctx.now(), existing.updatedAt + 1);
  const values = toolRowValues(ctx, serverId, tool, now);
  try {
    await ctx.db.update(tools).set(values).where(eq(tools.id, toolId));
  } catch (error) {
    if (isUniqueToolName(error)) throw duplicateName(tool.name);
    throw error;
  }
  return { ...existing, ...values };
}

export async function deleteTool(ctx: AppContext, ownerId: string, serverId: string, toolId: string): Promise<boolean> {
  const { tools } = ctx.store.tables;
  if (!await getTool(ctx, ownerId, serverId, toolId)) return false;
  return (await ctx.db.delete(tools).where(eq(tools.id, toolId)).returning({ id: tools.id })).length > 0;
}

/** The MCP URL clients connect to (DESIGN.md: `${PUBLIC_URL}/mcp/<serverId>`). */
export function mcpUrl(ctx: AppContext, serverId: string): string {
  return `${ctx.config.publicUrl}/mcp/${serverId}`;
}
