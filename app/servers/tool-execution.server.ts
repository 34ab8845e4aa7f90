import { asc, eq } from "drizzle-orm";
import { CallToolResultSchema, type CallToolResult, type Tool } from "@modelcontextprotocol/sdk/types.js";
import type { AppContext } from "~/context.server";
import { tools } from "~/db/schema";
import { statement } from "~/db/statements.server";
import { decryptText, hmacSha256Hex } from "~/utils/crypto.server";
import { readCappedText } from "~/utils/read-capped.server";
import { checkToolArguments } from "./json-schema.server";
import { parseUntrustedJson } from "~/utils/json.server";

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
export function listToolsForServer(ctx: AppContext, serverId: string): ToolRow[] {
  return ctx.db.select().from(tools).where(eq(tools.serverId, serverId)).orderBy(asc(tools.name)).all();
}

/** A tool row as the MCP `Tool` object of tools/list. */
export function toMcpTool(tool: ToolRow): Tool {
  return {
    name: tool.name,
    description: tool.description,
    inputSchema: JSON.parse(tool.inputSchema) as Tool["inputSchema"],
  };
}

const SIGNING_SECRET = "select signing_secret_enc as signingSecretEnc from mcp_servers where id = ?";

/**
 * Decrypted secrets (signing secrets, endpoint headers) by owner, kept with the sealed value they
 * came from: AES-GCM decryption costs more than the rest of the lookup, and a rotated or edited
 * secret is a new sealed value, so it misses here and takes effect on the very next call.
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

/**
 * Calls one tool: validates `args` against its input schema, sends them signed to its endpoint and
 * turns the answer into MCP tool content. Every failure becomes a tool error result (MCP Tools,
 * "Error Handling": tool execution errors are reported in the result with isError, not as protocol
 * errors), so this never throws.
 */
export async function executeTool(
  ctx: AppContext,
  tool: ToolRow,
  args: unknown,
  options: { signal?: AbortSignal } = {},
): Promise<CallToolResult> {
  const started = ctx.now();
  const log = (outcome: string, fields: Record<string, unknown> = {}) =>
    ctx.logger.info("tool call", { toolId: tool.id, serverId: tool.serverId, tool: tool.name, outcome, ...fields });
  try {
    const input = args ?? {};
    let body: string;
    try {
      body = JSON.stringify(input);
    } catch {
      // Nesting deeper than the stack can serialise: such arguments cannot be sent anyway.
      log("invalid_arguments");
      return toolError(`Invalid arguments for tool ${tool.name}: the arguments are nested too deeply.`);
    }
    const check = await checkToolArguments(tool, input, body, ctx.config.validationTimeoutMs);
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

    const server = statement<[string], { signingSecretEnc: string }>(ctx.db, SIGNING_SECRET).get(tool.serverId);
    if (!server) return toolError(`The tool ${tool.name} no longer exists.`);
    const secret = unsealed(ctx, `s:${tool.serverId}`, server.signingSecretEnc);
    const extraHeaders = tool.endpointHeadersEnc
      ? (JSON.parse(unsealed(ctx, `h:${tool.id}`, tool.endpointHeadersEnc)) as Record<string, string>)
      : {};

    const timestamp = String(Math.floor(ctx.now() / 1000));
    const headers = new Headers(extraHeaders);
    headers.set("Content-Type", "application/json");
    headers.set("Accept", "application/json, text/plain;q=0.9, */*;q=0.1");
    headers.set("User-Agent", "Toolgate");
    headers.set("X-Toolgate-Tool", tool.name);
    headers.set(TIMESTAMP_HEADER, timestamp);
    headers.set(SIGNATURE_HEADER, signToolRequest(secret, timestamp, body));

    const timeout = AbortSignal.timeout(ctx.config.toolTimeoutMs);
    const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
    const seconds = ctx.config.toolTimeoutMs / 1000;
    const aborted = () =>
      timeout.aborted
        ? (log("timeout"), toolError(`The tool endpoint did not answer within ${seconds} s.`))
        : (log("cancelled"), toolError("The tool call was cancelled."));

    let response: Response;
    try {
      response = await fetch(tool.endpointUrl, {
        method: tool.endpointMethod,
        headers,
        body,
        signal,
        // A redirect would resend the signed body to another address; report it instead.
        redirect: "manual",
      });
    } catch (error) {
      if (signal.aborted) return aborted();
      const code = causeCode(error);
      log("unreachable", { code });
      return toolError(`Could not reach the tool endpoint${code ? ` (${describeNetworkError(code)})` : ""}.`);
    }

    const max = ctx.config.toolMaxResponseBytes;
    const declared = Number(response.headers.get("content-length"));
    if (Number.isFinite(declared) && declared > max) {
      await response.body?.cancel().catch(() => {});
      log("too_large", { status: response.status });
      return toolError(`The tool endpoint's answer is larger than the ${max}-byte limit.`);
    }
    let text: string;
    try {
      const read = await readCappedText(response.body, max);
      if (read === null) {
        log("too_large", { status: response.status });
        return toolError(`The tool endpoint's answer is larger than the ${max}-byte limit.`);
      }
      text = read;
    } catch {
      if (signal.aborted) return aborted();
      log("read_failed", { status: response.status });
      return toolError("The tool endpoint's answer could not be read (the connection closed early).");
    }

    if (response.status < 200 || response.status > 299) {
      log("http_error", { status: response.status, ms: ctx.now() - started });
      const preview = text.trim().slice(0, ERROR_BODY_PREVIEW);
      return toolError(
        `The tool endpoint answered HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}.` +
          (preview ? `\n\n${preview}` : ""),
      );
    }
    log("ok", { status: response.status });
    return toContent(text);
  } catch (error) {
    ctx.logger.error("tool call failed", { toolId: tool.id, error });
    return toolError(`The tool ${tool.name} failed unexpectedly.`);
  }
}

/** JSON that already is an MCP tool result passes through; anything else becomes one text block. */
function toContent(text: string): CallToolResult {
  let parsed: unknown;
  try {
    parsed = parseUntrustedJson(text);
  } catch {
    // Not JSON, or nested too deeply to be worth reading as a result: the text as it came.
    return { content: [{ type: "text", text }] };
  }
  if (parsed && typeof parsed === "object" && !Array.isArray(parsed) && Array.isArray((parsed as { content?: unknown }).content)) {
    const result = CallToolResultSchema.safeParse(parsed);
    if (!result.success) return toolError("The tool endpoint answered with MCP content that is not valid.");
    return result.data as CallToolResult;
  }
  return { content: [{ type: "text", text }] };
}

function causeCode(error: unknown): string | undefined {
  const cause = (error as { cause?: { code?: unknown; errors?: { code?: unknown }[] } } | undefined)?.cause;
  if (typeof cause?.code === "string") return cause.code;
  const inner = cause?.errors?.find((e) => typeof e.code === "string");
  return inner?.code as string | undefined;
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
