import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";

/**
 * The one Ajv instance for tool input schemas. JSON Schema 2020-12 is the default dialect of MCP tool
 * schemas (MCP 2025-11-25 "JSON Schema Usage"); schemas that name an older draft in `$schema` are
 * compiled as 2020-12 too, which gives the same result for the object/property schemas tools use.
 * `strict: false` accepts the annotation keywords clients put in schemas; formats are not checked
 * (no format plugin is bundled), so `format` is an annotation here.
 */
export const ajv = new Ajv2020({
  strict: false,
  allErrors: true,
  validateFormats: false,
  // Ajv would otherwise write warnings to the console; a schema problem is reported to the user.
  logger: false,
});

/** A copy of the schema without `$schema`/`$id`, so it compiles in the shared instance. */
function compilable(schema: Record<string, unknown>): Record<string, unknown> {
  const { $schema: _schema, $id: _id, ...rest } = schema;
  void _schema;
  void _id;
  return rest;
}

/** Compiles a schema without caching it in the shared instance; throws with Ajv's message. */
export function compileSchema(schema: Record<string, unknown>): ValidateFunction {
  const copy = compilable(schema);
  try {
    return ajv.compile(copy);
  } finally {
    // ajv.compile keeps every schema object it saw; drop it, the caller keeps the function.
    ajv.removeSchema(copy);
  }
}

/** Returns null when `schema` compiles, else a message saying why not. */
export function schemaProblem(schema: Record<string, unknown>): string | null {
  try {
    compileSchema(schema);
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

const MAX_CACHED = 1000;
const validators = new Map<string, ValidateFunction>();

/**
 * The compiled validator of one tool version, cached by tool id and updatedAt (an edit changes
 * updatedAt, so a stale validator is never used). The cache is bounded; the oldest entry goes first.
 */
export function validatorFor(tool: { id: string; updatedAt: number; inputSchema: string }): ValidateFunction {
  const key = `${tool.id}:${tool.updatedAt}`;
  const hit = validators.get(key);
  if (hit) return hit;
  const compiled = compileSchema(JSON.parse(tool.inputSchema) as Record<string, unknown>);
  for (const old of validators.keys()) if (old.startsWith(`${tool.id}:`)) validators.delete(old);
  if (validators.size >= MAX_CACHED) validators.delete(validators.keys().next().value!);
  validators.set(key, compiled);
  return compiled;
}
