import { z } from "zod";
import { schemaProblem } from "./json-schema.server";
import { ENDPOINT_METHODS, LIMITS } from "./limits";

/**
 * The tool definition of DESIGN.md, shared by the CLI (`--tools FILE`, `tool add --file`) and the web
 * forms: `{ name, description, inputSchema, endpoint: { url, method?, headers? } }`.
 */

export { LIMITS, ENDPOINT_METHODS };

/** MCP tool names: 1-128 characters of A-Z a-z 0-9 _ - . (MCP 2025-11-25, Tools, "Tool names"). */
export const TOOL_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;

export type EndpointMethod = (typeof ENDPOINT_METHODS)[number];

// RFC 9110 §5.1 field-name = token.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Headers Toolgate sets itself or that would break the request framing.
const RESERVED_HEADERS = new Set([
  "host",
  "content-length",
  "content-type",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "upgrade",
  "te",
  "trailer",
  "expect",
]);

export const serverNameSchema = z
  .string({ required_error: "Enter a name." })
  .trim()
  .min(1, "Enter a name.")
  .max(LIMITS.serverName, `Use at most ${LIMITS.serverName} characters.`);

export const serverDescriptionSchema = z
  .string()
  .trim()
  .max(LIMITS.serverDescription, `Use at most ${LIMITS.serverDescription} characters.`)
  .default("");

export const toolNameSchema = z
  .string({ required_error: "Enter a tool name." })
  .trim()
  .min(1, "Enter a tool name.")
  .max(LIMITS.toolName, `Use at most ${LIMITS.toolName} characters.`)
  .regex(TOOL_NAME_PATTERN, "Use only letters, digits, underscore (_), hyphen (-) and dot (.).");

export const toolDescriptionSchema = z
  .string()
  .trim()
  .max(LIMITS.toolDescription, `Use at most ${LIMITS.toolDescription} characters.`)
  .default("");

/** A JSON Schema object with `"type": "object"` that Ajv compiles (MCP: inputSchema MUST be an object schema). */
export const inputSchemaSchema = z
  .record(z.unknown(), { invalid_type_error: "The input schema must be a JSON object." })
  .superRefine((schema, ctx) => {
    if (schema.type !== "object") {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'The input schema must have "type": "object".' });
      return;
    }
    if (JSON.stringify(schema).length > LIMITS.inputSchemaBytes) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `The input schema is larger than ${LIMITS.inputSchemaBytes / 1024} KiB.` });
      return;
    }
    const problem = schemaProblem(schema);
    if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `The input schema is not valid JSON Schema: ${problem}` });
  });

export const endpointUrlSchema = z
  .string({ required_error: "Enter the endpoint URL." })
  .trim()
  .min(1, "Enter the endpoint URL.")
  .max(LIMITS.url, `Use at most ${LIMITS.url} characters.`)
  .superRefine((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: "Enter a full URL starting with http:// or https://." });
      return;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: "The URL must start with http:// or https://." });
    } else if (url.username || url.password) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: "Put credentials in a header, not in the URL." });
    }
  });

export const endpointMethodSchema = z
  .string()
  .trim()
  .transform((m) => m.toUpperCase())
  .pipe(z.enum(ENDPOINT_METHODS, { errorMap: () => ({ message: `Choose one of ${ENDPOINT_METHODS.join(", ")}.` }) }));

export const endpointHeadersSchema = z
  .record(z.string({ invalid_type_error: "Header values must be strings." }))
  .superRefine((headers, ctx) => {
    const entries = Object.entries(headers);
    if (entries.length > LIMITS.headers) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `Use at most ${LIMITS.headers} headers.` });
    }
    const seen = new Set<string>();
    for (const [name, value] of entries) {
      const lower = name.toLowerCase();
      if (!HEADER_NAME.test(name) || name.length > LIMITS.headerName) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${name.slice(0, 40)}" is not a valid header name.` });
      } else if (RESERVED_HEADERS.has(lower) || lower.startsWith("x-toolgate-")) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `The header ${name} is set by Toolgate and cannot be changed.` });
      } else if (seen.has(lower)) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `The header ${name} appears twice.` });
      } else if (value.length > LIMITS.headerValue) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `The value of ${name} is longer than ${LIMITS.headerValue} characters.` });
      } else if (/[^\t\x20-\x7e]/.test(value)) {
        // RFC 9110 §5.5: field values are visible ASCII, spaces and tabs (no line breaks: no header injection).
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `The value of ${name} may only contain printable ASCII characters.` });
      }
      seen.add(lower);
    }
  });

export const toolDefinitionSchema = z.object({
  name: toolNameSchema,
  description: toolDescriptionSchema,
  inputSchema: inputSchemaSchema,
  endpoint: z.object({
    url: endpointUrlSchema,
    method: endpointMethodSchema.default("POST"),
    headers: endpointHeadersSchema.default({}),
  }),
});

export type ToolDefinition = z.output<typeof toolDefinitionSchema>;
export type ToolDefinitionInput = z.input<typeof toolDefinitionSchema>;

/** A tools file: a JSON array of tool definitions with names unique within the array. */
export const toolDefinitionListSchema = z
  .array(toolDefinitionSchema)
  .max(LIMITS.toolsPerServer, `Use at most ${LIMITS.toolsPerServer} tools per server.`)
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    list.forEach((tool, i) => {
      if (seen.has(tool.name)) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: [i, "name"], message: `A tool named ${tool.name} already exists on this server.` });
      }
      seen.add(tool.name);
    });
  });

export const serverInputSchema = z.object({
  name: serverNameSchema,
  description: serverDescriptionSchema,
});

/**
 * Headers typed in a form: either a JSON object or "Name: value" lines. Returns the parsed object or a
 * message saying what is wrong.
 */
export function parseHeadersText(text: string): { ok: true; headers: Record<string, string> } | { ok: false; message: string } {
  const trimmed = text.trim();
  if (trimmed === "") return { ok: true, headers: {} };
  if (trimmed.startsWith("{")) {
    try {
      const value = JSON.parse(trimmed) as unknown;
      if (value && typeof value === "object" && !Array.isArray(value)) return { ok: true, headers: value as Record<string, string> };
    } catch {
      // fall through to the message below
    }
    return { ok: false, message: "Headers must be a JSON object or one \"Name: value\" per line." };
  }
  // No prototype: a header named __proto__ is kept as the owner wrote it, not swallowed.
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [i, line] of trimmed.split(/\r?\n/).entries()) {
    if (line.trim() === "") continue;
    const colon = line.indexOf(":");
    if (colon <= 0) return { ok: false, message: `Line ${i + 1} is not "Name: value".` };
    const name = line.slice(0, colon).trim();
    if (Object.hasOwn(headers, name)) return { ok: false, message: `The header ${name} appears twice.` };
    headers[name] = line.slice(colon + 1).trim();
  }
  return { ok: true, headers };
}

/** Headers as "Name: value" lines, for an edit form. */
export function formatHeadersText(headers: Record<string, string>): string {
  return Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}`)
    .join("\n");
}
