/**
 * MCP 2026-07-28 "Streamable HTTP / Custom Request Headers" (SEP-2243), server side: a tool's
 * input schema may mark a primitive parameter with `x-mcp-header: "<Name>"`; a client then mirrors
 * that argument in the `Mcp-Param-<Name>` header (base64-wrapped when it is not plain ASCII), and
 * the server refuses a call whose header is missing, undecodable or different from the body, with
 * HTTP 400 and `-32020` (HeaderMismatch). The SDK runs this check inside `createMcpHandler` only
 * (decision 035); these are its rules: declarations along the `properties` chain only, values
 * compared as strings (numbers numerically), absent or null arguments need no header.
 */
import { ProtocolError } from "@modelcontextprotocol/server";
import { decodeHeaderValue, HEADER_MISMATCH, stripOws, type HeaderRejection } from "./standard-headers.server";

export type ParamHeaderDeclaration = { path: string[]; headerName: string; type: string };

const PRIMITIVE_TYPES = new Set(["string", "integer", "boolean", "number"]);
const CANONICAL_DECIMAL = /^-?\d+(\.\d+)?$/;
// RFC 9110 token characters: a declaration that is not one cannot be a header name.
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** The `x-mcp-header` declarations of an input schema (bounded depth; malformed ones are ignored). */
export function paramHeaderDeclarations(schema: unknown): ParamHeaderDeclaration[] {
  const found: ParamHeaderDeclaration[] = [];
  const visit = (node: unknown, path: string[]) => {
    if (node === null || typeof node !== "object" || Array.isArray(node) || path.length > 16) return;
    const record = node as Record<string, unknown>;
    const name = record["x-mcp-header"];
    const type = record.type;
    if (path.length > 0 && typeof name === "string" && TOKEN.test(name) && typeof type === "string" && PRIMITIVE_TYPES.has(type)) {
      found.push({ path, headerName: name, type });
    }
    const properties = record.properties;
    if (properties !== null && typeof properties === "object" && !Array.isArray(properties)) {
      for (const [key, child] of Object.entries(properties)) visit(child, [...path, key]);
    }
  };
  visit(schema, []);
  return found;
}

function valueAt(root: unknown, path: string[]): unknown {
  let node = root;
  for (const key of path) {
    if (node === null || typeof node !== "object" || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function asHeaderString(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number" && Number.isFinite(value) && (!Number.isInteger(value) || Number.isSafeInteger(value))) return String(value);
  return undefined;
}

function mismatch(header: string, body: string): HeaderRejection {
  return {
    httpStatus: 400,
    error: new ProtocolError(HEADER_MISMATCH, `Bad Request: the request headers and body disagree: ${body}`, { mismatch: { header, body } }),
  };
}

export function checkParamHeaders(
  declarations: ParamHeaderDeclaration[],
  args: unknown,
  header: (lowerCaseName: string) => string | null,
): HeaderRejection | null {
  for (const declaration of declarations) {
    const headerName = `Mcp-Param-${declaration.headerName}`;
    const bodyValue = valueAt(args, declaration.path);
    if (bodyValue === undefined || bodyValue === null) continue;
    const bodyString = asHeaderString(bodyValue);
    if (bodyString === undefined) continue;
    const where = declaration.path.join(".");
    const raw = header(headerName.toLowerCase());
    if (raw === null) return mismatch(headerName, `the body carries ${where}=${JSON.stringify(bodyValue)} but the ${headerName} header is absent`);
    const decoded = decodeHeaderValue(stripOws(raw));
    if (decoded === undefined) return mismatch(headerName, `the ${headerName} header carries an invalid Base64 sentinel value`);
    const numeric = (declaration.type === "integer" || declaration.type === "number") && typeof bodyValue === "number" && CANONICAL_DECIMAL.test(decoded);
    if (numeric ? Number(decoded) !== bodyValue : decoded !== bodyString) {
      return mismatch(headerName, `the ${headerName} header decodes to ${JSON.stringify(decoded)} but the body carries ${where}=${JSON.stringify(bodyValue)}`);
    }
  }
  return null;
}
