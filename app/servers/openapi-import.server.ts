/**
 * OpenAPI import (docs/decisions/044-openapi-import.md): a document (OpenAPI 3.0 or 3.1, YAML or
 * JSON, or Swagger 2.0, upgraded) is validated and dereferenced by @scalar/openapi-parser, and each
 * operation becomes a tool definition or a refusal that names the operation and the reason. A plan
 * compares them with the server's tools by name (added, changed, unchanged, removed), and applying
 * it is one transaction: tools keep their id, and so their grants, across re-imports.
 */
import { and, eq, lt } from "drizzle-orm";
import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import type { AppContext } from "~/context.server";
import type { tools } from "~/db/schema";
import { newId } from "~/utils/crypto.server";
import { baseUrlSchema, sealedCredentialValues, type ApiCredential } from "./api-credentials.server";
import { ajv } from "./json-schema.server";
import { LIMITS } from "./limits";
import { ValidationError } from "./servers.server";
import { placeholdersOf, toolDefinitionSchema, type ParamMapping, type ToolDefinition } from "./tool-definition.server";
import { agentFor } from "./upstream-http.server";

export const OPENAPI_LIMITS = {
  /** The largest document accepted, in bytes (GitHub's whole REST description is 13 MB). */
  documentBytes: 16 * 1024 * 1024,
  /** The most operations one document may have. */
  operations: 2000,
  /** How long fetching a document by URL may take, in ms. */
  fetchMs: 15_000,
  /** Schema nesting deeper than this is cut (the deeper part accepts any value). */
  schemaDepth: 32,
  /** Schema nodes one tool's input or output schema may expand to, shared subschemas counted each time. */
  schemaNodes: 20_000,
  /** How long an uploaded document is kept for its preview. */
  draftMs: 60 * 60 * 1000,
} as const;

/** A document that cannot be imported at all; the message says why, in words for the person. */
export class OpenApiImportError extends Error {
  override name = "OpenApiImportError";
}

const METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"] as const;
const SUPPORTED = new Set(["get", "put", "post", "delete", "patch", "head"]);

export type ImportOperation = {
  /** "GET /pets/{petId}" */
  key: string;
  method: string;
  path: string;
  operationId: string | null;
  summary: string;
  /** The tool's name (also for refused operations: it is how re-imports recognise them). */
  toolName: string;
  tool: ToolDefinition | null;
  refused: string | null;
};

export type ParsedDocument = {
  title: string;
  /** The document's own version field, as written ("3.0.0", "2.0"). */
  specVersion: string;
  /** The base URLs the document names (servers, or Swagger 2.0 host/basePath), resolved. */
  servers: string[];
  operations: ImportOperation[];
};

type AnyObject = Record<string, unknown>;
const isObject = (v: unknown): v is AnyObject => typeof v === "object" && v !== null && !Array.isArray(v);

// ---- reading the document ----------------------------------------------------------------------

/**
 * The OpenAPI parser and the YAML reader, loaded on the first import rather than at start: they are
 * about a third of the modules the server would otherwise load before its first answer, and most
 * processes never import a document (docs/decisions/057-start-up-cost.md).
 */
let parsers: Promise<{ openapi: typeof import("@scalar/openapi-parser"); yaml: typeof import("yaml") }> | undefined;
function loadParsers() {
  parsers ??= Promise.all([import("@scalar/openapi-parser"), import("yaml")]).then(([openapi, yaml]) => ({ openapi, yaml }));
  return parsers;
}

/** Parses JSON or YAML text into a value, with YAML's alias expansion bounded (no billion laughs). */
function parseText(text: string, parseYaml: typeof import("yaml").parse): unknown {
  const trimmed = text.trimStart();
  if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new OpenApiImportError(`The document is not valid JSON: ${(error as Error).message}`);
    }
  }
  try {
    return parseYaml(text, { maxAliasCount: 100, uniqueKeys: true, merge: true });
  } catch (error) {
    const message = (error as Error).message.split("\n")[0]!.slice(0, 300);
    throw new OpenApiImportError(`The document is neither valid JSON nor valid YAML: ${message}`);
  }
}

/** The first `$ref` that does not point inside the document, or null. */
function externalRef(value: unknown): string | null {
  const stack: unknown[] = [value];
  while (stack.length) {
    const node = stack.pop();
    if (Array.isArray(node)) stack.push(...node);
    else if (isObject(node)) {
      for (const [k, v] of Object.entries(node)) {
        if (k === "$ref" && typeof v === "string" && !v.startsWith("#")) return v;
        if (typeof v === "object" && v !== null) stack.push(v);
      }
    }
  }
  return null;
}

/**
 * Reads, validates and dereferences a document and turns each operation into a tool definition or
 * a refusal. Throws OpenApiImportError for a document that cannot be used at all.
 */
export async function parseOpenApiDocument(text: string, options: { sourceUrl?: string } = {}): Promise<ParsedDocument> {
  if (Buffer.byteLength(text) > OPENAPI_LIMITS.documentBytes) {
    throw new OpenApiImportError(`The document is larger than ${OPENAPI_LIMITS.documentBytes / 1024 / 1024} MiB, the most Toolgate imports.`);
  }
  const { openapi, yaml } = await loadParsers();
  const raw = parseText(text, yaml.parse);
  if (!isObject(raw)) throw new OpenApiImportError("This is not an OpenAPI document: it is not a JSON or YAML object.");
  const specVersion = typeof raw.openapi === "string" ? raw.openapi : raw.swagger === "2.0" ? "2.0" : null;
  if (!specVersion) {
    throw new OpenApiImportError('This is not an OpenAPI document: it has no "openapi" version field (or "swagger": "2.0").');
  }
  if (specVersion !== "2.0" && !/^3\.[01]\.\d+$/.test(specVersion)) {
    throw new OpenApiImportError(`OpenAPI ${specVersion} is not supported; Toolgate imports OpenAPI 3.0, 3.1 and Swagger 2.0.`);
  }
  const external = externalRef(raw);
  if (external) {
    throw new OpenApiImportError(`The document refers to another file (${external.slice(0, 200)}); only references inside the document (#/...) are supported. Bundle it into one file first.`);
  }
  const count = countOperations(raw.paths);
  if (count > OPENAPI_LIMITS.operations) {
    throw new OpenApiImportError(`The document has ${count} operations; at most ${OPENAPI_LIMITS.operations} can be imported from one document.`);
  }

  const checked = await openapi.validate(raw);
  if (!checked.valid) {
    const detail = (checked.errors ?? [])
      .slice(0, 3)
      .map((e) => `${(e as { path?: string }).path ? `${(e as { path?: string }).path}: ` : ""}${e.message}`)
      .join("; ");
    throw new OpenApiImportError(`The document is not valid OpenAPI ${specVersion}: ${detail.slice(0, 600) || "it does not match the specification"}.`);
  }
  const upgraded = openapi.upgrade(raw).specification as AnyObject;
  const result = openapi.dereference(upgraded);
  if (result.errors?.length || !isObject(result.schema)) {
    const first = result.errors?.[0]?.message ?? "it could not be resolved";
    throw new OpenApiImportError(`The document has a $ref that cannot be resolved: ${first.slice(0, 300)}.`);
  }
  const doc = result.schema as AnyObject;
  const info = isObject(doc.info) ? doc.info : {};
  return {
    title: typeof info.title === "string" ? info.title : "",
    specVersion,
    servers: serverUrls(doc.servers, options.sourceUrl),
    operations: operationsOf(doc),
  };
}

function countOperations(paths: unknown): number {
  if (!isObject(paths)) return 0;
  let n = 0;
  for (const item of Object.values(paths)) if (isObject(item)) for (const m of METHODS) if (isObject(item[m])) n++;
  return n;
}

/** Server URLs with their variables at default values, relative ones resolved against the document's URL. */
function serverUrls(servers: unknown, sourceUrl: string | undefined): string[] {
  if (!Array.isArray(servers)) return [];
  const out: string[] = [];
  for (const server of servers) {
    if (!isObject(server) || typeof server.url !== "string") continue;
    const variables = isObject(server.variables) ? server.variables : {};
    const url = server.url.replace(/\{([^}]+)\}/g, (m, name: string) => {
      const v = variables[name];
      return isObject(v) && typeof v.default === "string" ? v.default : m;
    });
    let absolute: string;
    try {
      absolute = new URL(url, sourceUrl).toString();
    } catch {
      continue;
    }
    const parsed = baseUrlSchema.safeParse(absolute);
    if (parsed.success && !out.includes(parsed.data)) out.push(parsed.data);
  }
  return out;
}

// ---- operations to tools -----------------------------------------------------------------------

/** A valid tool name from an operationId (or method and path), unique among `taken`. */
export function toolNameFor(operationId: string | null, method: string, path: string, taken: Set<string>): string {
  const clean = (text: string) => text.normalize("NFKD").replace(/[^A-Za-z0-9_.-]+/g, "_");
  // Names made from the method and path collapse the runs of "_" that "/{" and "}/" leave.
  const base =
    (operationId !== null ? clean(operationId) : clean(`${method}_${path}`).replace(/_+/g, "_"))
      .replace(/^[_.-]+|[_.-]+$/g, "")
      .slice(0, LIMITS.toolName) || method;
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base.slice(0, LIMITS.toolName - String(i).length - 1)}_${i}`;
  taken.add(name);
  return name;
}

function operationsOf(doc: AnyObject): ImportOperation[] {
  const paths = isObject(doc.paths) ? doc.paths : {};
  const securitySchemes = isObject(doc.components) && isObject(doc.components.securitySchemes) ? doc.components.securitySchemes : {};
  const taken = new Set<string>();
  const out: ImportOperation[] = [];
  for (const [path, item] of Object.entries(paths)) {
    if (!isObject(item)) continue;
    for (const method of METHODS) {
      const op = item[method];
      if (!isObject(op)) continue;
      const operationId = typeof op.operationId === "string" && op.operationId.trim() ? op.operationId.trim() : null;
      const toolName = toolNameFor(operationId, method, path, taken);
      const summary = typeof op.summary === "string" ? op.summary.trim() : "";
      const base = { key: `${method.toUpperCase()} ${path}`, method: method.toUpperCase(), path, operationId, summary, toolName };
      let tool: ToolDefinition | null = null;
      let refused: string | null = null;
      if (!SUPPORTED.has(method)) refused = `the method ${method.toUpperCase()} is not supported`;
      else {
        try {
          tool = toolOf(toolName, method.toUpperCase(), path, item, op, doc.security, securitySchemes);
        } catch (error) {
          if (!(error instanceof Refusal)) throw error;
          refused = error.message;
        }
      }
      out.push({ ...base, tool, refused });
    }
  }
  return out;
}

/** Why one operation cannot become a tool. */
class Refusal extends Error {}

const JSON_TYPE = /^application\/([\w.+-]+\+)?json(\s*;.*)?$/i;
const IGNORED_HEADERS = new Set(["accept", "content-type", "authorization"]);
const RESERVED_HEADER = /^(host|content-length|transfer-encoding|connection|keep-alive|upgrade|te|trailer|expect|x-toolgate-.*)$/i;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function toolOf(
  name: string,
  method: string,
  path: string,
  item: AnyObject,
  op: AnyObject,
  docSecurity: unknown,
  schemes: AnyObject,
): ToolDefinition {
  checkSecurity(op.security ?? docSecurity, schemes);
  // No prototypes: parameters named "__proto__" or "constructor" are names like any other.
  const properties: AnyObject = Object.create(null) as AnyObject;
  const required: string[] = [];
  const params: Record<string, ParamMapping> = Object.create(null) as Record<string, ParamMapping>;

  // Path-level parameters, overridden by the operation's own with the same name and location.
  const merged = new Map<string, AnyObject>();
  for (const list of [item.parameters, op.parameters]) {
    if (!Array.isArray(list)) continue;
    for (const p of list) if (isObject(p) && typeof p.name === "string" && typeof p.in === "string") merged.set(`${p.in}\u0000${p.name}`, p);
  }
  for (const p of merged.values()) {
    const wire = p.name as string;
    const location = p.in as string;
    const isRequired = p.required === true || location === "path";
    if (location === "cookie") {
      if (isRequired) throw new Refusal(`it needs the cookie parameter ${wire}, and Toolgate does not send cookies`);
      continue;
    }
    if (location === "header") {
      if (IGNORED_HEADERS.has(wire.toLowerCase())) continue; // OpenAPI 3 §4.8.12.1: these header parameters are ignored
      if (!HEADER_NAME.test(wire) || RESERVED_HEADER.test(wire)) {
        if (isRequired) throw new Refusal(`its header parameter ${wire} cannot be set by a tool`);
        continue;
      }
    }
    if (location !== "path" && location !== "query" && location !== "header") throw new Refusal(`its parameter ${wire} is in "${location}"`);
    const style = typeof p.style === "string" ? p.style : null;
    if (location === "query" && style && style !== "form") throw new Refusal(`its query parameter ${wire} uses style ${style}; only form is supported`);
    if (location === "path" && style && style !== "simple") throw new Refusal(`its path parameter ${wire} uses style ${style}; only simple is supported`);
    let arg = wire;
    if (Object.hasOwn(properties, arg)) arg = `${location}_${wire}`;
    const content = isObject(p.content) ? Object.values(p.content).find(isObject) : undefined;
    const schema = convertSchema(p.schema ?? content?.schema ?? {}, `parameter ${wire}`);
    if (typeof p.description === "string" && isObject(schema) && schema.description === undefined) schema.description = p.description;
    properties[arg] = schema;
    if (isRequired) required.push(arg);
    const mapping: ParamMapping = { in: location };
    if (arg !== wire) mapping.name = wire;
    if (location === "query" && p.explode === false) mapping.explode = false;
    params[arg] = mapping;
  }

  // A `{name}` in the path that no parameter describes (the specification requires one; real
  // documents forget it): a required string argument, so a client knows to give it.
  const described = new Set(Object.entries(params).filter(([, m]) => m.in === "path").map(([arg, m]) => m.name ?? arg));
  for (const wire of placeholdersOf(path)) {
    if (described.has(wire)) continue;
    described.add(wire);
    const arg = Object.hasOwn(properties, wire) ? `path_${wire}` : wire;
    properties[arg] = { type: "string", description: `The {${wire}} part of the path (the document does not describe it).` };
    required.push(arg);
    params[arg] = arg === wire ? { in: "path" } : { in: "path", name: wire };
  }

  // The request body: JSON only.
  const body = isObject(op.requestBody) ? op.requestBody : null;
  if (body && isObject(body.content) && Object.keys(body.content).length) {
    const types = Object.keys(body.content);
    const jsonType = types.find((t) => JSON_TYPE.test(t)) ?? (types.includes("*/*") ? "*/*" : undefined);
    if (!jsonType) {
      if (types.some((t) => t.toLowerCase().startsWith("multipart/"))) throw new Refusal(`it takes a multipart upload (${types.join(", ")}), which a tool cannot send`);
      if (types.some((t) => t.toLowerCase() === "application/x-www-form-urlencoded")) throw new Refusal("it takes a form-encoded body; Toolgate sends JSON bodies only");
      throw new Refusal(`it takes a ${types.join(", ")} body; Toolgate sends JSON bodies only`);
    }
    const media = body.content[jsonType];
    const arg = Object.hasOwn(properties, "body") ? "requestBody" : "body";
    const schema = convertSchema(isObject(media) ? (media.schema ?? {}) : {}, "the request body");
    if (typeof body.description === "string" && isObject(schema) && schema.description === undefined) schema.description = body.description;
    properties[arg] = schema;
    if (body.required === true) required.push(arg);
    params[arg] = { in: "body" };
  }

  const inputSchema: AnyObject = { type: "object", properties };
  if (required.length) inputSchema.required = required;
  const outputSchema = outputSchemaOf(op.responses);
  const summary = typeof op.summary === "string" ? op.summary.trim() : "";
  const longer = typeof op.description === "string" ? op.description.trim() : "";
  let description = [summary, longer].filter(Boolean).join("\n\n");
  if (description.length > LIMITS.toolDescription) description = `${description.slice(0, LIMITS.toolDescription - 1)}…`;
  const annotations: ToolDefinition["annotations"] = {};
  if (summary) annotations.title = summary.slice(0, LIMITS.annotationTitle);
  if (method === "GET" || method === "HEAD") annotations.readOnlyHint = true;
  else {
    annotations.readOnlyHint = false;
    if (method === "DELETE") annotations.destructiveHint = true;
    if (method === "PUT") annotations.idempotentHint = true;
  }

  const parsed = toolDefinitionSchema.safeParse({
    name,
    description,
    inputSchema,
    endpoint: { url: path, method, ...(Object.keys(params).length ? { params } : {}) },
    annotations,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Refusal(`${issue.path.join(".") || "its definition"}: ${issue.message}`);
  }
  // Output schemas of large APIs are big (GitHub's repository object): checked against the
  // 2020-12 meta-schema here, compiled when the tool is first called.
  if (outputSchema && ajv.validateSchema(outputSchema) === true) parsed.data.outputSchema = outputSchema;
  return parsed.data;
}

/** Refuses an operation whose every accepted security requirement is a cookie API key. */
function checkSecurity(security: unknown, schemes: AnyObject) {
  if (!Array.isArray(security) || security.length === 0) return;
  const cookieOnly = security.every((requirement) => {
    if (!isObject(requirement)) return false;
    const names = Object.keys(requirement);
    return names.length > 0 && names.some((n) => isObject(schemes[n]) && schemes[n].type === "apiKey" && schemes[n].in === "cookie");
  });
  if (cookieOnly) throw new Refusal("it only accepts cookie authentication, which Toolgate does not send");
}

const SUCCESS = ["200", "201", "202", "203", "206", "2XX", "2xx"];

/** The JSON Schema of the first JSON success response, when it is an object schema that fits. */
function outputSchemaOf(responses: unknown): AnyObject | null {
  if (!isObject(responses)) return null;
  for (const code of SUCCESS) {
    const response = responses[code];
    if (!isObject(response) || !isObject(response.content)) continue;
    const jsonType = Object.keys(response.content).find((t) => JSON_TYPE.test(t));
    if (!jsonType) return null;
    const media = response.content[jsonType];
    if (!isObject(media) || !isObject(media.schema)) return null;
    let schema: unknown;
    try {
      schema = convertSchema(media.schema, "the response");
    } catch {
      return null; // too large: the tool is still useful without an output schema
    }
    if (!isObject(schema) || !isObjectTyped(schema)) return null;
    if (JSON.stringify(schema).length > LIMITS.outputSchemaBytes) return null;
    // MCP requires `type: "object"` at the top; a composed schema says it through its parts.
    return schema.type === "object" ? schema : { type: "object", ...schema };
  }
  return null;
}

/**
 * Whether every value `schema` accepts is a JSON object: it says `type: "object"`, or one of its
 * `allOf` parts does (all must hold), or every `oneOf`/`anyOf` alternative does. Real APIs compose
 * their answers (`allOf: [Base, {…}]`) far more often than they repeat `type` beside the parts.
 */
function isObjectTyped(schema: unknown, depth = 0): boolean {
  if (!isObject(schema) || depth > 8) return false;
  if (schema.type !== undefined) return schema.type === "object";
  if (Array.isArray(schema.allOf) && schema.allOf.some((part) => isObjectTyped(part, depth + 1))) return true;
  for (const key of ["oneOf", "anyOf"]) {
    const alternatives = schema[key];
    if (Array.isArray(alternatives) && alternatives.length > 0 && alternatives.every((alt) => isObjectTyped(alt, depth + 1))) return true;
  }
  return false;
}

// OpenAPI-only keywords with no meaning in JSON Schema 2020-12 validation; dropped.
const DROPPED = new Set(["discriminator", "xml", "externalDocs", "example", "$schema", "$id", "$anchor", "$dynamicAnchor", "$comment"]);
// Keywords whose value is a map of name → schema (the names are data, not keywords).
const SCHEMA_MAPS = new Set(["properties", "patternProperties", "$defs", "definitions", "dependentSchemas"]);
// Keywords whose value is raw JSON data.
const DATA = new Set(["enum", "const", "default", "examples", "required", "dependentRequired", "type", "format", "pattern", "title", "description"]);

/**
 * A dereferenced schema (an object graph that may share and even cycle) as a JSON tree.
 * Recursion is cut where a schema repeats inside itself: the inner occurrence accepts any value and
 * says so; nesting beyond OPENAPI_LIMITS.schemaDepth is cut the same way. A schema that expands to
 * more than OPENAPI_LIMITS.schemaNodes nodes refuses its operation.
 */
export function convertSchema(schema: unknown, what: string): AnyObject | boolean {
  let nodes = 0;
  const stack = new Set<object>();
  const walk = (node: unknown, depth: number): unknown => {
    if (typeof node === "boolean") return node;
    if (!isObject(node)) return {};
    if (stack.has(node)) return { description: "(recursive: not expanded further; any value is accepted here)" };
    if (depth > OPENAPI_LIMITS.schemaDepth) return { description: "(nested too deeply: not expanded further)" };
    if (++nodes > OPENAPI_LIMITS.schemaNodes) throw new Refusal(`the schema of ${what} is too large (over ${OPENAPI_LIMITS.schemaNodes} nodes when expanded)`);
    if (typeof node.$ref === "string") throw new Refusal(`the schema of ${what} has a $ref that could not be resolved (${node.$ref.slice(0, 100)})`);
    stack.add(node);
    const out: AnyObject = {};
    for (const [key, value] of Object.entries(node)) {
      if (DROPPED.has(key) || key.startsWith("x-")) continue;
      if (key === "nullable") {
        // OpenAPI 3.0's nullable, where the upgrade left one (next to allOf, say): JSON Schema's null type.
        if (value === true && typeof node.type === "string") out.type = [node.type, "null"];
        else if (value === true && Array.isArray(node.type) && !node.type.includes("null")) out.type = [...(node.type as unknown[]), "null"];
        continue;
      }
      if (key === "type" && "type" in out) continue;
      if (DATA.has(key)) out[key] = structuredClone(value);
      else if (SCHEMA_MAPS.has(key) && isObject(value)) {
        const map: AnyObject = {};
        for (const [name, sub] of Object.entries(value)) map[name] = walk(sub, depth + 1);
        out[key] = map;
      } else if (Array.isArray(value)) out[key] = value.map((v) => (typeof v === "object" && v !== null ? walk(v, depth + 1) : v));
      else if (isObject(value)) out[key] = walk(value, depth + 1);
      else out[key] = value;
    }
    stack.delete(node);
    return out;
  };
  return walk(schema, 0) as AnyObject | boolean;
}

// ---- fetching a document by URL ------------------------------------------------------------------

/**
 * Fetches a document with the trust of tool endpoints (any http(s) address, internal ones too: the
 * owner could call them from a tool anyway), capped in size and time, redirects not followed.
 */
export async function fetchOpenApiDocument(url: string): Promise<string> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new OpenApiImportError("Enter a full URL starting with http:// or https://.");
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new OpenApiImportError("The document URL must start with http:// or https://.");
  if (parsed.username || parsed.password) throw new OpenApiImportError("Credentials in the document URL are not supported.");
  const client = parsed.protocol === "https:" ? https : http;
  const max = OPENAPI_LIMITS.documentBytes;
  return new Promise((resolve, reject) => {
    const fail = (message: string) => {
      clearTimeout(timer);
      req.destroy();
      reject(new OpenApiImportError(message));
    };
    const timer = setTimeout(() => fail(`The document URL did not answer within ${OPENAPI_LIMITS.fetchMs / 1000} s.`), OPENAPI_LIMITS.fetchMs);
    const req = client.request(
      parsed,
      { method: "GET", agent: agentFor({ origin: parsed.origin, protocol: parsed.protocol }), headers: { Accept: "application/json, application/yaml, text/yaml, */*;q=0.5", "User-Agent": "Toolgate" } },
      (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 299) return fail(`The document URL answered HTTP ${status}${status >= 300 && status < 400 ? " (redirects are not followed)" : ""}.`);
        if (Number(res.headers["content-length"]) > max) return fail(`The document is larger than ${max / 1024 / 1024} MiB, the most Toolgate imports.`);
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.byteLength;
          if (size > max) return fail(`The document is larger than ${max / 1024 / 1024} MiB, the most Toolgate imports.`);
          chunks.push(c);
        });
        res.on("end", () => {
          clearTimeout(timer);
          resolve(Buffer.concat(chunks).toString("utf8"));
        });
        res.on("error", () => fail("The document could not be read (the connection closed early)."));
      },
    );
    req.on("error", (error: NodeJS.ErrnoException) => fail(`Could not fetch the document${error.code ? ` (${error.code})` : ""}.`));
    req.end();
  });
}

// ---- planning and applying -----------------------------------------------------------------------

export type PlannedTool = { operation: ImportOperation; tool: ToolDefinition; existingId: string | null };
export type ImportPlan = {
  added: PlannedTool[];
  changed: PlannedTool[];
  unchanged: PlannedTool[];
  /** Previously imported tools whose operation is gone from the document (or now refused). */
  removed: { id: string; name: string }[];
  refused: ImportOperation[];
  baseUrl: string;
};

type ExistingTool = typeof tools.$inferSelect;

/** The parts of a tool an import sets, for comparing a planned tool with the stored one. */
function comparable(t: { description: string; inputSchema: string; endpointUrl: string; endpointMethod: string; endpointParams: string | null; annotations: string | null; outputSchema: string | null }) {
  return JSON.stringify([t.description, t.inputSchema, t.endpointUrl, t.endpointMethod, t.endpointParams, t.annotations, t.outputSchema]);
}

function columnsOf(tool: ToolDefinition) {
  return {
    description: tool.description,
    inputSchema: JSON.stringify(tool.inputSchema),
    endpointUrl: tool.endpoint.url,
    endpointMethod: tool.endpoint.method,
    endpointParams: tool.endpoint.params && Object.keys(tool.endpoint.params).length ? JSON.stringify(tool.endpoint.params) : null,
    annotations: tool.annotations && Object.keys(tool.annotations).length ? JSON.stringify(tool.annotations) : null,
    outputSchema: tool.outputSchema ? JSON.stringify(tool.outputSchema) : null,
  };
}

/**
 * What importing `include` (operationIds, tool names or "METHOD /path"; all when absent) would do
 * to the server's tools. `baseUrl` defaults to the server's, then to the document's first server.
 */
export async function planImport(
  ctx: AppContext,
  serverId: string,
  parsed: ParsedDocument,
  options: { include?: string[]; baseUrl?: string | null } = {},
): Promise<ImportPlan> {
  const { mcpServers, tools } = ctx.store.tables;
  const server = (await ctx.db.select({ baseUrl: mcpServers.baseUrl }).from(mcpServers).where(eq(mcpServers.id, serverId)).limit(1))[0];
  if (!server) throw new OpenApiImportError("No such server.");
  let baseUrl: string | null = null;
  if (options.baseUrl) {
    const checked = baseUrlSchema.safeParse(options.baseUrl);
    if (!checked.success) throw new OpenApiImportError(`The base URL is not valid: ${checked.error.issues[0]!.message}`);
    baseUrl = checked.data;
  } else baseUrl = server.baseUrl ?? parsed.servers[0] ?? null;
  if (!baseUrl) throw new OpenApiImportError("The document names no server URL; give the base URL of the API.");

  let picked = parsed.operations;
  if (options.include?.length) {
    const wanted = new Set(options.include.map((s) => s.trim()).filter(Boolean));
    const matches = (op: ImportOperation) => wanted.has(op.toolName) || (op.operationId !== null && wanted.has(op.operationId)) || wanted.has(op.key);
    const unknown = [...wanted].filter((w) => !parsed.operations.some((op) => op.toolName === w || op.operationId === w || op.key === w));
    if (unknown.length) throw new OpenApiImportError(`The document has no operation named ${unknown.slice(0, 5).join(", ")}.`);
    picked = parsed.operations.filter(matches);
  }

  const existing = new Map<string, ExistingTool>((await ctx.db.select().from(tools).where(eq(tools.serverId, serverId))).map((t) => [t.name, t]));
  const plan: ImportPlan = { added: [], changed: [], unchanged: [], removed: [], refused: [], baseUrl };
  for (const op of picked) {
    if (!op.tool) {
      plan.refused.push(op);
      continue;
    }
    const old = existing.get(op.toolName);
    const entry = { operation: op, tool: op.tool, existingId: old?.id ?? null };
    if (!old) plan.added.push(entry);
    else if (comparable(old) !== comparable(columnsOf(op.tool)) || old.importedFrom !== op.key) plan.changed.push(entry);
    else plan.unchanged.push(entry);
  }
  const present = new Set(parsed.operations.filter((op) => op.tool).map((op) => op.toolName));
  for (const t of existing.values()) if (t.importedFrom !== null && !present.has(t.name)) plan.removed.push({ id: t.id, name: t.name });
  return plan;
}

/**
 * Applies a plan in one transaction: new tools inserted, changed ones updated in place (same id,
 * so grants stay), removed ones deleted, and the base URL (and a credential, if given) set. A
 * tool's extra headers are kept. Returns the counts.
 */
export async function applyImport(ctx: AppContext, serverId: string, plan: ImportPlan, options: { credential?: ApiCredential } = {}) {
  const { mcpServers, tools } = ctx.store.tables;
  const count = (await ctx.db.select({ id: tools.id }).from(tools).where(eq(tools.serverId, serverId))).length;
  const total = count + plan.added.length - plan.removed.length;
  if (total > LIMITS.toolsPerServer) {
    throw new ValidationError({ form: `The server would have ${total} tools; a server has at most ${LIMITS.toolsPerServer}. Pick fewer operations.` });
  }
  const now = ctx.now();
  await ctx.store.transaction(async (tx) => {
    for (const { operation, tool } of plan.added) {
      await tx.insert(tools)
        .values({ id: newId(), serverId, name: tool.name, ...columnsOf(tool), endpointHeadersEnc: null, importedFrom: operation.key, createdAt: now, updatedAt: now });
    }
    for (const { operation, tool, existingId } of plan.changed) {
      const old = (await tx.select({ updatedAt: tools.updatedAt }).from(tools).where(eq(tools.id, existingId!)).limit(1))[0];
      // updatedAt must move: the validator cache is keyed by it.
      await tx.update(tools)
        .set({ ...columnsOf(tool), importedFrom: operation.key, updatedAt: Math.max(now, (old?.updatedAt ?? 0) + 1) })
        .where(and(eq(tools.id, existingId!), eq(tools.serverId, serverId)));
    }
    for (const { id } of plan.removed) await tx.delete(tools).where(and(eq(tools.id, id), eq(tools.serverId, serverId)));
    await tx.update(mcpServers)
      .set({ baseUrl: plan.baseUrl, ...(options.credential ? sealedCredentialValues(ctx, options.credential) : {}), updatedAt: now })
      .where(eq(mcpServers.id, serverId));
  });
  ctx.logger.info("openapi import applied", { serverId, added: plan.added.length, changed: plan.changed.length, removed: plan.removed.length, refused: plan.refused.length });
  return { added: plan.added.length, changed: plan.changed.length, unchanged: plan.unchanged.length, removed: plan.removed.length, refused: plan.refused.length };
}

// ---- drafts (the web preview) ---------------------------------------------------------------------

/** Stores a document for its preview; older drafts of every server past their time go. */
export async function saveDraft(ctx: AppContext, serverId: string, document: string, source: string): Promise<string> {
  const { openapiDrafts } = ctx.store.tables;
  const id = newId();
  const now = ctx.now();
  await ctx.store.transaction(async (tx) => {
    await tx.delete(openapiDrafts).where(lt(openapiDrafts.expiresAt, now));
    await tx.insert(openapiDrafts).values({ id, serverId, document, source: source.slice(0, 500), createdAt: now, expiresAt: now + OPENAPI_LIMITS.draftMs });
  });
  return id;
}

export async function readDraft(ctx: AppContext, serverId: string, draftId: string) {
  const { openapiDrafts } = ctx.store.tables;
  const row = (await ctx.db
    .select()
    .from(openapiDrafts)
    .where(and(eq(openapiDrafts.id, draftId), eq(openapiDrafts.serverId, serverId))).limit(1))[0];
  if (!row || row.expiresAt < ctx.now()) return null;
  return row;
}

export async function deleteDraft(ctx: AppContext, serverId: string, draftId: string) {
  const { openapiDrafts } = ctx.store.tables;
  await ctx.db.delete(openapiDrafts).where(and(eq(openapiDrafts.id, draftId), eq(openapiDrafts.serverId, serverId)));
}
