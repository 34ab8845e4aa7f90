import { asc, eq } from "drizzle-orm";
import { isCallToolResult, type CallToolResult, type Tool } from "@modelcontextprotocol/server";
import type { AppContext } from "~/context.server";
import type { ServerUpstreamRow } from "~/db/hot.server";
import type { tools } from "~/db/schema";
import type { ValidateFunction } from "ajv/dist/2020.js";
import { decryptText, hmacSha256Hex } from "~/utils/crypto.server";
import type { ApiAuth } from "./api-credentials.server";
import { ajv, checkToolArguments } from "./json-schema.server";
import { parseUntrustedJson } from "~/utils/json.server";
import { buildRestRequest } from "./rest-request.server";
import type { ParamMapping } from "./tool-definition.server";
import { sendUpstream } from "./upstream-http.server";

export type ToolRow = typeof tools.$inferSelect;

/** Header names of the request signature (docs/decisions/011-tool-execution-and-signing.md). */
export const TIMESTAMP_HEADER = "X-Toolgate-Timestamp";
export const SIGNATURE_HEADER = "X-Toolgate-Signature";

/**
 * The signature a tool endpoint checks: `sha256=` + hex HMAC-SHA256 keyed with the server's signing
 * secret (its UTF-8 bytes) over `<timestamp>.<body>`, where timestamp is the X-Toolgate-Timestamp
 * value (Unix seconds) and body the exact request body bytes.
 */
export function signToolRequest(secret: string, timestamp: string, body: string): string {
  return `sha256=${hmacSha256Hex(secret, `${timestamp}.${body}`)}`;
}

/** A server's tools, by name: what tools/list shows and tools/call may call. */
export async function listToolsForServer(ctx: AppContext, serverId: string): Promise<ToolRow[]> {
  const { tools } = ctx.store.tables;
  return (await ctx.db.select().from(tools).where(eq(tools.serverId, serverId)).orderBy(asc(tools.name)));
}

/** A tool row as the MCP `Tool` object of tools/list (annotations and outputSchema when set). */
export function toMcpTool(tool: Pick<ToolRow, "name" | "description" | "inputSchema" | "annotations" | "outputSchema">): Tool {
  const out: Tool = {
    name: tool.name,
    description: tool.description,
    inputSchema: JSON.parse(tool.inputSchema) as Tool["inputSchema"],
  };
  if (tool.outputSchema) out.outputSchema = JSON.parse(tool.outputSchema) as Tool["outputSchema"];
  if (tool.annotations) {
    const annotations = JSON.parse(tool.annotations) as NonNullable<Tool["annotations"]>;
    out.annotations = annotations;
    if (annotations.title) out.title = annotations.title;
  }
  return out;
}

// The server's signing secret and upstream API, read per call (with the tool, by tools/call): a
// rotated secret, a new base URL or a replaced credential takes effect on the very next call.
/**
 * Decrypted secrets (signing secrets, endpoint headers, API credentials) by owner, kept with the
 * sealed value they came from: AES-GCM decryption costs more than the rest of the lookup, and a
 * rotated or edited secret is a new sealed value, so it misses here and takes effect on the very
 * next call.
 */
type Unsealed = Map<string, { sealed: string; plain: string }>;
const unsealedCaches = new WeakMap<object, Unsealed>();
const MAX_UNSEALED = 10_000;

function unsealed(ctx: AppContext, key: string, sealed: string): string {
  let cache = unsealedCaches.get(ctx.secrets);
  if (!cache) {
    cache = new Map();
    unsealedCaches.set(ctx.secrets, cache);
  }
  const hit = cache.get(key);
  if (hit && hit.sealed === sealed) return hit.plain;
  const plain = decryptText(ctx.secrets.dataKey, sealed);
  if (!hit && cache.size >= MAX_UNSEALED) cache.delete(cache.keys().next().value!);
  cache.set(key, { sealed, plain });
  return plain;
}

/** Parsed JSON columns of one tool version (keyed like the validators: id and updatedAt). */
type Parsed = {
  key: string;
  params: Record<string, ParamMapping> | null;
  extraHeaders: Record<string, string>;
  output: ValidateFunction | "broken" | null;
  headersSealed: string | null;
};

/** An output schema's validator; "broken" when it does not compile (imported schemas are only meta-checked). */
function compileOutput(ctx: AppContext, tool: ToolRow): ValidateFunction | "broken" {
  // Compiled in the shared instance without $schema/$id, then dropped from it (the caller keeps the function).
  const { $schema: _s, $id: _i, ...schema } = JSON.parse(tool.outputSchema!) as Record<string, unknown>;
  void _s;
  void _i;
  try {
    return ajv.compile(schema);
  } catch (error) {
    ctx.logger.error("tool output schema does not compile", { toolId: tool.id, error });
    return "broken";
  } finally {
    ajv.removeSchema(schema);
  }
}
const parsedTools = new Map<string, Parsed>();
const MAX_PARSED = 1000;

function parsedTool(ctx: AppContext, tool: ToolRow): Parsed {
  const key = `${tool.id}:${tool.updatedAt}`;
  const hit = parsedTools.get(tool.id);
  if (hit && hit.key === key && hit.headersSealed === tool.endpointHeadersEnc) return hit;
  const parsed: Parsed = {
    key,
    headersSealed: tool.endpointHeadersEnc,
    params: tool.endpointParams ? (JSON.parse(tool.endpointParams) as Record<string, ParamMapping>) : null,
    extraHeaders: tool.endpointHeadersEnc
      ? (JSON.parse(unsealed(ctx, `h:${tool.id}`, tool.endpointHeadersEnc)) as Record<string, string>)
      : {},
    output: tool.outputSchema ? compileOutput(ctx, tool) : null,
  };
  if (!hit && parsedTools.size >= MAX_PARSED) parsedTools.delete(parsedTools.keys().next().value!);
  parsedTools.set(tool.id, parsed);
  return parsed;
}

function toolError(text: string): CallToolResult {
  return { isError: true, content: [{ type: "text", text }] };
}

const ERROR_BODY_PREVIEW = 500;

// Results of calls Toolgate refused itself (the arguments did not match the input schema), so the
// audit log can say the endpoint was never called rather than "the tool reported an error".
const argumentRefusals = new WeakSet<CallToolResult>();

/** Whether `result` is Toolgate's own refusal of the arguments (the endpoint was not called). */
export function isArgumentRefusal(result: CallToolResult): boolean {
  return argumentRefusals.has(result);
}
const ACCEPT = "application/json, text/plain;q=0.9, */*;q=0.1";

/**
 * Calls one tool: validates `args` against its input schema, builds the HTTP request its endpoint
 * mapping describes (decision 043), sends it signed and turns the answer into MCP tool content.
 * Every failure becomes a tool error result (MCP Tools, "Error Handling": tool execution errors
 * are reported in the result with isError, not as protocol errors), so this never throws.
 */
export async function executeTool(
  ctx: AppContext,
  tool: ToolRow,
  args: unknown,
  options: {
    signal?: AbortSignal;
    /** The server's upstream columns when the caller read them with the tool (tools/call does); read here otherwise. */
    upstream?: ServerUpstreamRow;
  } = {},
): Promise<CallToolResult> {
  const started = ctx.now();
  const log = (outcome: string, fields: Record<string, unknown> = {}) =>
    ctx.logger.info("tool call", { toolId: tool.id, serverId: tool.serverId, tool: tool.name, outcome, ...fields });
  try {
    const input = args ?? {};
    let argsText: string;
    try {
      argsText = JSON.stringify(input);
    } catch {
      // Nesting deeper than the stack can serialise: such arguments cannot be sent anyway.
      log("invalid_arguments");
      return toolError(`Invalid arguments for tool ${tool.name}: the arguments are nested too deeply.`);
    }
    const check = await checkToolArguments(tool, input, argsText, ctx.config.validationTimeoutMs);
    if (check.kind === "schema_error") {
      ctx.logger.error("tool input schema does not compile", { toolId: tool.id, error: check.message });
      return toolError(`The tool ${tool.name} has an invalid input schema; its owner must fix it.`);
    }
    if (check.kind === "timeout" || check.kind === "busy") {
      log(check.kind === "timeout" ? "validation_timeout" : "validation_busy");
      return toolError(
        check.kind === "timeout"
          ? `The arguments for tool ${tool.name} could not be validated in time; the call was not made.`
          : `Too many tool calls are being validated right now; try again shortly. The call was not made.`,
      );
    }
    if (check.kind === "invalid") {
      log("invalid_arguments");
      const detail = check.errors.map((e) => `${e.instancePath || "(arguments)"} ${e.message}`).join("; ");
      const refusal = toolError(`Invalid arguments for tool ${tool.name}: ${detail}`);
      argumentRefusals.add(refusal);
      return refusal;
    }

    const server = options.upstream ?? (await ctx.store.hot.serverUpstream(ctx.db, tool.serverId));
    if (!server) return toolError(`The tool ${tool.name} no longer exists.`);
    const secret = unsealed(ctx, `s:${tool.serverId}`, server.signingSecretEnc);
    const parsed = parsedTool(ctx, tool);
    const credential =
      server.apiAuth && server.apiSecretEnc
        ? { ...(JSON.parse(server.apiAuth) as ApiAuth), secret: unsealed(ctx, `a:${tool.serverId}`, server.apiSecretEnc) }
        : null;

    if (parsed.output === "broken") return toolError(`The tool ${tool.name} has an invalid output schema; its owner must fix it.`);
    const built = buildRestRequest({
      url: tool.endpointUrl,
      method: tool.endpointMethod,
      params: parsed.params,
      args: typeof input === "object" && input !== null && !Array.isArray(input) ? (input as Record<string, unknown>) : {},
      baseUrl: server.baseUrl,
      credential,
    });
    if (!built.ok) {
      log("unmappable_arguments");
      return toolError(built.message);
    }
    const target = built.target;
    const body = target.body ?? "";
    const timestamp = String(Math.floor(ctx.now() / 1000));
    // Owner headers first; Toolgate's own headers, the argument headers and the credential after
    // them, so none of them can be overridden by another (names are checked at save time).
    const headers: Record<string, string> = { ...parsed.extraHeaders };
    headers["Accept"] = ACCEPT;
    headers["User-Agent"] = "Toolgate";
    if (target.body !== null) headers["Content-Type"] = "application/json";
    headers["X-Toolgate-Tool"] = tool.name;
    headers[TIMESTAMP_HEADER] = timestamp;
    headers[SIGNATURE_HEADER] = signToolRequest(secret, timestamp, body);
    Object.assign(headers, target.headers);

    const outcome = await sendUpstream(target, tool.endpointMethod, headers, {
      timeoutMs: ctx.config.toolTimeoutMs,
      maxBytes: ctx.config.toolMaxResponseBytes,
      signal: options.signal,
    });
    const max = ctx.config.toolMaxResponseBytes;
    switch (outcome.kind) {
      case "timeout":
        log("timeout");
        return toolError(`The tool endpoint did not answer within ${ctx.config.toolTimeoutMs / 1000} s.`);
      case "cancelled":
        log("cancelled");
        return toolError("The tool call was cancelled.");
      case "unreachable":
        log("unreachable", { code: outcome.code });
        return toolError(`Could not reach the tool endpoint${outcome.code ? ` (${describeNetworkError(outcome.code)})` : ""}.`);
      case "too_large":
        log("too_large", { status: outcome.status });
        return toolError(`The tool endpoint's answer is larger than the ${max}-byte limit.`);
      case "read_failed":
        log("read_failed", { status: outcome.status });
        return toolError("The tool endpoint's answer could not be read (the connection closed early).");
    }
    if (outcome.status < 200 || outcome.status > 299) {
      log("http_error", { status: outcome.status, ms: ctx.now() - started });
      const preview = outcome.text.trim().slice(0, ERROR_BODY_PREVIEW);
      return toolError(
        `The tool endpoint answered HTTP ${outcome.status}${outcome.statusText ? ` ${outcome.statusText}` : ""}.` +
          (preview ? `\n\n${preview}` : ""),
      );
    }
    log("ok", { status: outcome.status });
    return toContent(outcome.text, parsed.output as ValidateFunction | null);
  } catch (error) {
    ctx.logger.error("tool call failed", { toolId: tool.id, error });
    return toolError(`The tool ${tool.name} failed unexpectedly.`);
  }
}

/**
 * JSON that already is an MCP tool result passes through; anything else becomes one text block.
 * A tool with an output schema answers with `structuredContent` too (MCP Tools, "Structured
 * Content": the text block repeats it for clients that do not read it); an answer that does not
 * match the schema is an error result, since clients check structured results against the
 * schema the tool declared.
 */
function toContent(text: string, output: ValidateFunction | null): CallToolResult {
  let parsed: unknown;
  try {
    parsed = parseUntrustedJson(text);
  } catch {
    // Not JSON, or nested too deeply to be worth reading as a result.
    if (output) return toolError(`The tool endpoint's answer is not JSON, but the tool declares an output schema.\n\n${text.trim().slice(0, ERROR_BODY_PREVIEW)}`);
    return { content: [{ type: "text", text }] };
  }
  if (parsed && typeof parsed === "object" && !Array.isArray(parsed) && Array.isArray((parsed as { content?: unknown }).content)) {
    // The SDK's own CallToolResult schema decides what is valid MCP content.
    if (!isCallToolResult(parsed)) return toolError("The tool endpoint answered with MCP content that is not valid.");
    return parsed;
  }
  if (output) {
    if (!output(parsed)) {
      const detail = (output.errors ?? [])
        .slice(0, 3)
        .map((e) => `${e.instancePath || "(answer)"} ${e.message ?? "is invalid"}`)
        .join("; ");
      return toolError(`The tool endpoint's answer does not match the tool's output schema: ${detail}\n\n${text.trim().slice(0, ERROR_BODY_PREVIEW)}`);
    }
    return { content: [{ type: "text", text }], structuredContent: parsed as Record<string, unknown> };
  }
  return { content: [{ type: "text", text }] };
}

function describeNetworkError(code: string): string {
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "host not found";
    case "ECONNRESET":
      return "connection reset";
    case "ETIMEDOUT":
    case "UND_ERR_CONNECT_TIMEOUT":
      return "connection timed out";
    default:
      return code;
  }
}
