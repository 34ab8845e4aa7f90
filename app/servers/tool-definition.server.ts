import { z } from "zod";
import { ifMissing, ifWrongType } from "~/utils/zod-messages";
import { schemaProblem } from "./json-schema.server";
import { ANNOTATION_HINTS, ENDPOINT_METHODS, LIMITS, PARAM_LOCATIONS } from "./limits";

/**
 * The tool definition of DESIGN.md, shared by the CLI (`--tools FILE`, `tool add --file`) and the web
 * forms: `{ name, description, inputSchema, endpoint: { url, method?, headers?, params? },
 * annotations?, outputSchema? }` (README "Tool definitions"; decision 043 for the REST mapping).
 */

export { LIMITS, ENDPOINT_METHODS, PARAM_LOCATIONS, ANNOTATION_HINTS };

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
  .string(ifMissing("Enter a name."))
  .trim()
  .min(1, "Enter a name.")
  .max(LIMITS.serverName, `Use at most ${LIMITS.serverName} characters.`);

export const serverDescriptionSchema = z
  .string()
  .trim()
  .max(LIMITS.serverDescription, `Use at most ${LIMITS.serverDescription} characters.`)
  .default("");

export const toolNameSchema = z
  .string(ifMissing("Enter a tool name."))
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
  .record(z.string(), z.unknown(), ifWrongType("The input schema must be a JSON object."))
  .superRefine((schema, ctx) => {
    if (schema.type !== "object") {
      ctx.addIssue({ code: "custom", message: 'The input schema must have "type": "object".' });
      return;
    }
    if (JSON.stringify(schema).length > LIMITS.inputSchemaBytes) {
      ctx.addIssue({ code: "custom", message: `The input schema is larger than ${LIMITS.inputSchemaBytes / 1024} KiB.` });
      return;
    }
    const problem = schemaProblem(schema);
    if (problem) ctx.addIssue({ code: "custom", message: `The input schema is not valid JSON Schema: ${problem}` });
  });

/** `{name}` placeholders of a URL template (RFC 6570 level 1 simple expansion). */
export const PLACEHOLDER = /\{([^{}/?#]+)\}/g;
const HAS_PLACEHOLDER = /\{[^{}/?#]+\}/;

/** The placeholder names of a URL template, in order. */
export function placeholdersOf(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!);
}

/**
 * A tool's endpoint: a full http(s) URL, or a path starting with "/" on the server's base URL.
 * Either may hold `{name}` placeholders, but only in the path: the origin a call goes to is fixed
 * by the definition, never by an argument.
 */
export const endpointUrlSchema = z
  .string(ifMissing("Enter the endpoint URL."))
  .trim()
  .min(1, "Enter the endpoint URL.")
  .max(LIMITS.url, `Use at most ${LIMITS.url} characters.`)
  .superRefine((value, ctx) => {
    const problem = endpointUrlProblem(value);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });

function endpointUrlProblem(value: string): string | null {
  if (/[{}]/.test(value.replace(PLACEHOLDER, ""))) return "Placeholders are written {name}, without nested braces.";
  const filled = value.replace(PLACEHOLDER, "x");
  if (filled.startsWith("/")) {
    if (filled.startsWith("//")) return "A path on the server's base URL starts with a single /.";
    if (/[?#]/.test(filled)) return "Put query parameters in the argument mapping, not in the path.";
    if (/\s/.test(filled)) return "The path may not contain spaces.";
    return null;
  }
  let url: URL;
  try {
    url = new URL(filled);
  } catch {
    return "Enter a full URL starting with http:// or https://, or a path starting with / on the server's base URL.";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return "The URL must start with http:// or https://.";
  if (url.username || url.password) return "Put credentials in a header or the server's API credentials, not in the URL.";
  const withoutOrigin = value.slice(value.indexOf("//") + 2);
  const pathStart = withoutOrigin.search(/[/?#]/);
  const authority = pathStart === -1 ? withoutOrigin : withoutOrigin.slice(0, pathStart);
  if (HAS_PLACEHOLDER.test(authority)) return "Placeholders may only appear in the path, not in the host.";
  const query = value.includes("?") ? value.slice(value.indexOf("?")) : "";
  if (HAS_PLACEHOLDER.test(query)) return "Placeholders may only appear in the path; map query arguments instead.";
  return null;
}

export const endpointMethodSchema = z
  .string()
  .trim()
  .transform((m) => m.toUpperCase())
  .pipe(z.enum(ENDPOINT_METHODS, { error: `Choose one of ${ENDPOINT_METHODS.join(", ")}.` }));

export const endpointHeadersSchema = z
  .record(z.string(), z.string(ifWrongType("Header values must be strings.")))
  .superRefine((headers, ctx) => {
    const entries = Object.entries(headers);
    if (entries.length > LIMITS.headers) {
      ctx.addIssue({ code: "custom", message: `Use at most ${LIMITS.headers} headers.` });
    }
    const seen = new Set<string>();
    for (const [name, value] of entries) {
      const lower = name.toLowerCase();
      if (!HEADER_NAME.test(name) || name.length > LIMITS.headerName) {
        ctx.addIssue({ code: "custom", message: `"${name.slice(0, 40)}" is not a valid header name.` });
      } else if (RESERVED_HEADERS.has(lower) || lower.startsWith("x-toolgate-")) {
        ctx.addIssue({ code: "custom", message: `The header ${name} is set by Toolgate and cannot be changed.` });
      } else if (seen.has(lower)) {
        ctx.addIssue({ code: "custom", message: `The header ${name} appears twice.` });
      } else if (value.length > LIMITS.headerValue) {
        ctx.addIssue({ code: "custom", message: `The value of ${name} is longer than ${LIMITS.headerValue} characters.` });
      } else if (/[^\t\x20-\x7e]/.test(value)) {
        // RFC 9110 §5.5: field values are visible ASCII, spaces and tabs (no line breaks: no header injection).
        ctx.addIssue({ code: "custom", message: `The value of ${name} may only contain printable ASCII characters.` });
      }
      seen.add(lower);
    }
  });

/** Where one argument goes: `in` and, when it differs from the argument's name, the wire `name`. */
export const paramMappingSchema = z
  .object({
    in: z.enum(PARAM_LOCATIONS, { error: `"in" must be one of ${PARAM_LOCATIONS.join(", ")}.` }),
    name: z.string().min(1).max(LIMITS.headerName).optional(),
    // OpenAPI 3 "style" for query arrays: form (the default) only; explode defaults to true.
    style: z.literal("form", { error: 'Only "style": "form" is supported for query arguments.' }).optional(),
    explode: z.boolean().optional(),
  })
  .strict();

export type ParamMapping = z.output<typeof paramMappingSchema>;

export const endpointParamsSchema = z
  .record(z.string(), paramMappingSchema)
  .refine((params) => Object.keys(params).length <= LIMITS.params, `Map at most ${LIMITS.params} arguments.`)
  .superRefine((params, ctx) => {
    let bodies = 0;
    for (const [arg, mapping] of Object.entries(params)) {
      if (mapping.in === "body") bodies++;
      if (mapping.in === "header") {
        const name = mapping.name ?? arg;
        const lower = name.toLowerCase();
        if (!HEADER_NAME.test(name)) ctx.addIssue({ code: "custom", message: `"${name.slice(0, 40)}" is not a valid header name.` });
        else if (RESERVED_HEADERS.has(lower) || lower.startsWith("x-toolgate-") || lower === "authorization") {
          ctx.addIssue({ code: "custom", message: `The header ${name} is set by Toolgate and cannot take an argument.` });
        }
      }
    }
    if (bodies > 1) ctx.addIssue({ code: "custom", message: 'At most one argument can be the whole JSON body ("in": "body").' });
  });

const hint = z.boolean(ifWrongType("Annotation hints are true or false.")).optional();

/** MCP tool annotations (MCP 2025-11-25, Tools, "Tool annotations"): hints shown to clients and on the consent page. */
export const annotationsSchema = z
  .object({
    title: z.string().trim().max(LIMITS.annotationTitle, `Use at most ${LIMITS.annotationTitle} characters.`).optional(),
    readOnlyHint: hint,
    destructiveHint: hint,
    idempotentHint: hint,
    openWorldHint: hint,
  })
  .strict();

export type ToolAnnotations = z.output<typeof annotationsSchema>;

/** An output schema: an object schema Ajv compiles (MCP: outputSchema MUST be an object schema). */
export const outputSchemaSchema = z
  .record(z.string(), z.unknown(), ifWrongType("The output schema must be a JSON object."))
  .superRefine((schema, ctx) => {
    if (schema.type !== "object") {
      ctx.addIssue({ code: "custom", message: 'The output schema must have "type": "object".' });
      return;
    }
    if (JSON.stringify(schema).length > LIMITS.outputSchemaBytes) {
      ctx.addIssue({ code: "custom", message: `The output schema is larger than ${LIMITS.outputSchemaBytes / 1024} KiB.` });
      return;
    }
    const problem = schemaProblem(schema);
    if (problem) ctx.addIssue({ code: "custom", message: `The output schema is not valid JSON Schema: ${problem}` });
  });

export const toolDefinitionSchema = z
  .object({
    name: toolNameSchema,
    description: toolDescriptionSchema,
    inputSchema: inputSchemaSchema,
    endpoint: z.object({
      url: endpointUrlSchema,
      method: endpointMethodSchema.default("POST"),
      headers: endpointHeadersSchema.default({}),
      params: endpointParamsSchema.optional(),
    }),
    annotations: annotationsSchema.optional(),
    outputSchema: outputSchemaSchema.optional(),
  })
  .superRefine((tool, ctx) => {
    // Every placeholder names an argument; an argument mapped to the path has a placeholder.
    const params = tool.endpoint.params ?? {};
    const pathNames = new Map(Object.entries(params).filter(([, m]) => m.in === "path").map(([arg, m]) => [m.name ?? arg, arg]));
    const placeholders = placeholdersOf(tool.endpoint.url);
    for (const name of placeholders) {
      const mapped = params[name];
      if (!pathNames.has(name) && mapped && mapped.in !== "path") {
        ctx.addIssue({ code: "custom", path: ["endpoint", "params"], message: `The argument ${name} is in the URL but mapped to the ${mapped.in}.` });
      }
    }
    for (const name of pathNames.keys()) {
      if (!placeholders.includes(name)) {
        ctx.addIssue({ code: "custom", path: ["endpoint", "params"], message: `The URL has no {${name}} placeholder for the path argument ${pathNames.get(name)}.` });
      }
    }
    if ((tool.endpoint.method === "GET" || tool.endpoint.method === "HEAD") && Object.values(params).some((m) => m.in === "body")) {
      ctx.addIssue({ code: "custom", path: ["endpoint", "params"], message: `A ${tool.endpoint.method} request has no body; map the argument to the query instead.` });
    }
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
        ctx.addIssue({ code: "custom", path: [i, "name"], message: `A tool named ${tool.name} already exists on this server.` });
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

