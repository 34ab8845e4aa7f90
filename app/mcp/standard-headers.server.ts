/**
 * MCP 2026-07-28 "Streamable HTTP / Standard Request Headers" (SEP-2243), the server's half that
 * the SDK's classifier leaves to its HTTP entry: on a modern request POST, `MCP-Protocol-Version`
 * and `Mcp-Method` must be present, and `Mcp-Name` must mirror `params.name` (tools/call,
 * prompts/get), `params.uri` (resources/read) or `params.taskId` (tasks/*). The classifier itself
 * (`classifyInboundRequest`) already rejects a version or method header that disagrees with the
 * body.
 *
 * The SDK runs this rung inside `createMcpHandler`, whose per-request server factory the endpoint
 * does not use (decision 035), and does not export it; these are the same rules, the same
 * `-32020` (HeaderMismatch) answer with HTTP 400, and the same messages, proven by the
 * conformance suite's http-header-validation scenario (tests/integration/mcp-conformance.test.ts).
 */
import { ProtocolError } from "@modelcontextprotocol/server";

/** The JSON-RPC error code of a header that disagrees with the body (SEP-2243). */
export const HEADER_MISMATCH = -32020;

export type HeaderRejection = { httpStatus: 400; error: ProtocolError };

// Read with a Map, never a plain object: `method` is the client's string ("constructor", …).
const NAME_SOURCE = new Map<string, string>([
  ["tools/call", "name"],
  ["prompts/get", "name"],
  ["resources/read", "uri"],
  ["tasks/get", "taskId"],
  ["tasks/update", "taskId"],
  ["tasks/cancel", "taskId"],
]);

export type StandardHeaders = { protocolVersion: string | null; method: string | null; name: string | null };

function mismatch(header: string, body: string): HeaderRejection {
  return {
    httpStatus: 400,
    error: new ProtocolError(HEADER_MISMATCH, `Bad Request: the request headers and body disagree: ${body}`, { mismatch: { header, body } }),
  };
}

/** RFC 9110 §5.5: optional whitespace (SP, HTAB) around a field value is not part of it. */
export function stripOws(value: string): string {
  return value.replace(/^[ \t]+/, "").replace(/[ \t]+$/, "");
}

const BASE64_PREFIX = "=?base64?";
const BASE64_SUFFIX = "?=";
const CANONICAL_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * A header value as the client meant it: values that are not plain ASCII travel as
 * `=?base64?<UTF-8 bytes, base64>?=`. Undefined for a sentinel that is not canonical base64 of
 * valid UTF-8.
 */
export function decodeHeaderValue(value: string): string | undefined {
  if (!(value.startsWith(BASE64_PREFIX) && value.endsWith(BASE64_SUFFIX))) return value;
  const b64 = value.slice(BASE64_PREFIX.length, value.length - BASE64_SUFFIX.length);
  if (!CANONICAL_BASE64.test(b64)) return undefined;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(Buffer.from(b64, "base64"));
  } catch {
    return undefined;
  }
}

/** Checks the standard headers of a modern request (not notifications: the rule reads "requests"). */
export function checkStandardHeaders(headers: StandardHeaders, method: string, params: unknown, claimedRevision: string | undefined): HeaderRejection | null {
  if (headers.protocolVersion === null) {
    return mismatch(
      "(missing)",
      claimedRevision === undefined
        ? "the body carries a modern per-request envelope but the required MCP-Protocol-Version header is absent"
        : `the body envelope names protocol version ${claimedRevision} but the required MCP-Protocol-Version header is absent`,
    );
  }
  if (headers.method === null) return mismatch("(missing)", `the body names method ${method} but the required Mcp-Method header is absent`);
  const field = NAME_SOURCE.get(method);
  if (field === undefined) return null;
  const raw = params !== null && typeof params === "object" && !Array.isArray(params) ? (params as Record<string, unknown>)[field] : undefined;
  const bodyValue = typeof raw === "string" ? raw : undefined;
  if (headers.name === null) {
    if (bodyValue === undefined) return null;
    return mismatch("(missing)", `the body carries params.${field}="${bodyValue}" but the required Mcp-Name header is absent`);
  }
  const name = stripOws(headers.name);
  const decoded = decodeHeaderValue(name);
  if (decoded === undefined) return mismatch(name, "the Mcp-Name header carries an invalid Base64 sentinel value");
  if (bodyValue !== undefined && decoded !== bodyValue) {
    return mismatch(name, `the body carries params.${field}="${bodyValue}" but the Mcp-Name header names "${decoded}"`);
  }
  return null;
}
