import { createRequire } from "node:module";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import standaloneCode from "ajv/dist/standalone/index.js";
import equalModule from "ajv/dist/runtime/equal.js";
import ucs2lengthModule from "ajv/dist/runtime/ucs2length.js";
import uriModule from "ajv/dist/runtime/uri.js";
import { RE2JS } from "re2js";
import { startValidationPool, validateInPool } from "./validation-pool.server";

/**
 * Tool input schemas and argument validation (docs/decisions/025-bounded-argument-validation.md).
 *
 * An owner writes the schema, a client chooses the data: nothing here may take time the event loop
 * cannot spare. Three rules hold it:
 * - every `pattern` / `patternProperties` regular expression runs on RE2 (linear time, no
 *   backtracking); patterns RE2 cannot run are refused when the tool is saved;
 * - a schema is saved only within caps that bound the cost of checking it (size, depth, patterns);
 * - arguments are validated in this thread only when the cost is provably small (a schema whose
 *   expanded size is small, without recursion or `uniqueItems`, and small arguments); anything else
 *   goes to a worker thread with a time budget (validation-pool.server.ts);
 * - schemas are compiled only in the workers (Ajv's code generation costs milliseconds per
 *   kilobyte): for schemas validated in this thread, the worker sends back Ajv's standalone code,
 *   which this thread only has to instantiate.
 */

/**
 * Builds the Ajv instance for tool schemas. Self-contained on purpose: its source is also run in
 * the validation workers, so both threads validate with the same options.
 *
 * JSON Schema 2020-12 is the default dialect of MCP tool schemas (MCP 2025-11-25 "JSON Schema
 * Usage"); schemas that name an older draft in `$schema` are compiled as 2020-12 too, which gives
 * the same result for the object/property schemas tools use. `strict: false` accepts the annotation
 * keywords clients put in schemas; formats are not checked (no format plugin is bundled), so
 * `format` is an annotation here. Validation stops at the first error: collecting all of them
 * would cost one error object per (schema, value) pair, which the caller chooses the size of.
 * Ajv would otherwise write warnings to the console (`logger`).
 */
export function makeToolAjv(AjvClass: typeof Ajv2020, Re2: typeof RE2JS): Ajv2020 {
  const re2 = Object.assign(
    // The RE2JS object has test() and a toString() naming its pattern, which Ajv uses as cache key.
    (pattern: string) => Re2.compile(Re2.translateRegExp(pattern)),
    // What standalone code calls to build the same engine (see instantiate below).
    { code: 'require("toolgate:re2")' },
  );
  return new AjvClass({
    strict: false,
    allErrors: false,
    validateFormats: false,
    logger: false,
    code: { regExp: re2, source: true },
  });
}

/** The one Ajv instance of this thread. */
export const ajv = makeToolAjv(Ajv2020, RE2JS);

/** Caps checked when a tool is saved; they bound the cost of every later check of the schema. */
export const SCHEMA_LIMITS = {
  bytes: 64 * 1024,
  /** Nesting of JSON values (objects and arrays) in the schema. */
  depth: 64,
  patterns: 200,
  /** Characters of all patterns together: RE2 compiles in time proportional to them. */
  patternChars: 8 * 1024,
} as const;

/**
 * What may be validated (and compiled) in this thread: the schema's expanded weight (every JSON
 * value in it, with `$ref` targets counted at each use) times the arguments' size bounds the work,
 * and both are kept small enough that the worst case stays at a few milliseconds (measured in
 * tests/integration/argument-validation.test.ts). Anything larger goes to a worker.
 */
export const INLINE_LIMITS = { weight: 120, inputBytes: 2048 } as const;

/** A copy of the schema without `$schema`/`$id`, as it is compiled (workers do the same). */
function compilable(schema: Record<string, unknown>): Record<string, unknown> {
  const { $schema: _schema, $id: _id, ...rest } = schema;
  void _schema;
  void _id;
  return rest;
}

type Walk = { depth: number; patterns: string[]; refs: string[]; anchors: Set<string> };

/** Keywords whose values are instances, not schemas: nothing in them is a pattern or a reference. */
const DATA_KEYWORDS = new Set(["const", "enum", "default", "examples"]);
/** Keywords whose values map names to schemas: their keys are names, not keywords. */
const NAME_MAPS = new Set(["properties", "patternProperties", "$defs", "definitions", "dependentSchemas"]);

/** Collects depth, patterns, references and anchors; stops descending past the depth cap. */
function walkSchema(value: unknown, walk: Walk, depth: number, mode: "schema" | "names" | "data"): void {
  if (value === null || typeof value !== "object") return;
  walk.depth = Math.max(walk.depth, depth);
  if (depth > SCHEMA_LIMITS.depth) return;
  if (Array.isArray(value)) {
    for (const item of value) walkSchema(item, walk, depth + 1, mode === "data" ? "data" : "schema");
    return;
  }
  for (const [key, child] of Object.entries(value)) {
    if (mode === "schema") {
      if (key === "pattern" && typeof child === "string") walk.patterns.push(child);
      if (key === "patternProperties" && child && typeof child === "object" && !Array.isArray(child))
        walk.patterns.push(...Object.keys(child));
      if ((key === "$ref" || key === "$dynamicRef" || key === "$recursiveRef") && typeof child === "string")
        walk.refs.push(child);
      if (key === "$anchor" && typeof child === "string") walk.anchors.add(child);
    }
    const next =
      mode === "data" || (mode === "schema" && DATA_KEYWORDS.has(key))
        ? "data"
        : mode === "schema" && NAME_MAPS.has(key)
          ? "names"
          : "schema";
    walkSchema(child, walk, depth + 1, next);
  }
}

/** The value a local JSON Pointer reference (`#`, `#/a/b`) names, or undefined. */
function resolvePointer(root: unknown, ref: string): unknown {
  if (ref === "#") return root;
  if (!ref.startsWith("#/")) return undefined;
  let node: unknown = root;
  for (const raw of ref.slice(2).split("/")) {
    let token: string;
    try {
      token = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
    } catch {
      return undefined;
    }
    if (node === null || typeof node !== "object" || !Object.hasOwn(node, token)) return undefined;
    node = (node as Record<string, unknown>)[token];
  }
  return node;
}

/** Why RE2 cannot run `pattern`, or null when it can. */
export function patternProblem(pattern: string): string | null {
  try {
    RE2JS.compile(RE2JS.translateRegExp(pattern));
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

const short = (s: string) => (s.length > 60 ? `${s.slice(0, 57)}...` : s);

/**
 * Returns null when `schema` may be saved, else a message saying why not. Every check here is
 * linear in the schema and bounded by SCHEMA_LIMITS (patterns compile in RE2 in time proportional
 * to their length). Ajv's full compilation (a few milliseconds per kilobyte) is left to a
 * validation worker on the tool's first call; what it could still refuse there is reported to the
 * caller as a schema its owner must fix.
 */
export function schemaProblem(schema: Record<string, unknown>): string | null {
  const text = JSON.stringify(schema);
  if (text.length > SCHEMA_LIMITS.bytes) return `the schema is larger than ${SCHEMA_LIMITS.bytes / 1024} KiB`;
  const walk: Walk = { depth: 0, patterns: [], refs: [], anchors: new Set() };
  walkSchema(schema, walk, 1, "schema");
  if (walk.depth > SCHEMA_LIMITS.depth)
    return `the schema is nested more than ${SCHEMA_LIMITS.depth} levels deep`;
  if (walk.patterns.length > SCHEMA_LIMITS.patterns)
    return `the schema has more than ${SCHEMA_LIMITS.patterns} patterns`;
  const patternChars = walk.patterns.reduce((n, p) => n + p.length, 0);
  if (patternChars > SCHEMA_LIMITS.patternChars)
    return `the schema's patterns are longer than ${SCHEMA_LIMITS.patternChars} characters together`;
  for (const pattern of walk.patterns) {
    const problem = patternProblem(pattern);
    if (problem) {
      return `the pattern "${short(pattern)}" cannot be used: patterns run on a linear-time engine (RE2), which has no lookahead, lookbehind or backreferences and repeats at most 1000 times (${problem})`;
    }
  }
  for (const ref of walk.refs) {
    const local =
      ref === "#" || ref.startsWith("#/")
        ? resolvePointer(schema, ref) !== undefined
        : ref.startsWith("#") && walk.anchors.has(ref.slice(1));
    if (!local) return `the reference "${short(ref)}" does not point inside the schema (use "#/$defs/name")`;
  }
  // Asynchronous schemas make validation return a promise, which would read as "valid".
  if (text.includes('"$async"')) return "asynchronous schemas ($async) are not supported";
  if (!ajv.validateSchema(compilable(schema))) return ajv.errorsText(ajv.errors, { dataVar: "schema" });
  return null;
}

/**
 * The expanded weight of a schema: every JSON value in it, with each local `$ref` target counted
 * again at each use (so a chain of references that doubles at each step is seen as what it costs).
 * Infinity for anything whose cost is not bounded by that count: recursion, `uniqueItems`
 * (quadratic in the array), dynamic or anchor references, nested `$id`, too deep. Stops at the
 * inline cap: past it the exact number does not matter.
 */
export function inlineWeight(schema: Record<string, unknown>): number {
  const cap = INLINE_LIMITS.weight;
  const memo = new Map<string, number>();
  const active = new Set<string>();
  const visit = (value: unknown, depth: number, isRoot: boolean): number => {
    if (value === null || typeof value !== "object")
      return typeof value === "string" ? 1 + Math.floor(value.length / 32) : 1;
    if (depth > SCHEMA_LIMITS.depth) return Infinity;
    let total = 1;
    const entries = Array.isArray(value) ? value.map((v) => ["", v] as const) : Object.entries(value);
    for (const [key, child] of entries) {
      if (key === "uniqueItems" && child === true) return Infinity;
      if (key === "$dynamicRef" || key === "$recursiveRef") return Infinity;
      if (key === "$id" && !isRoot) return Infinity;
      if (key === "$ref" && typeof child === "string") {
        if (!(child === "#" || child.startsWith("#/"))) return Infinity;
        if (active.has(child)) return Infinity;
        let weight = memo.get(child);
        if (weight === undefined) {
          const target = resolvePointer(schema, child);
          if (target === undefined) return Infinity;
          active.add(child);
          weight = visit(target, depth + 1, false);
          active.delete(child);
          memo.set(child, weight);
        }
        total += weight;
      }
      total += visit(child, depth + 1, false);
      if (total > cap) return Infinity;
    }
    return total;
  };
  return visit(schema, 1, true);
}

/** How the arguments of one tool version are checked; kept with the version. */
type Plan =
  /** Small enough for this thread; `validate` arrives once a worker has compiled it. */
  { kind: "inline"; validate: ValidateFunction | null } | { kind: "worker" };

const MAX_CACHED = 1000;
const plans = new Map<string, Plan>();
const planKey = (tool: { id: string; updatedAt: number }) => `${tool.id}:${tool.updatedAt}`;

function planFor(tool: { id: string; updatedAt: number; inputSchema: string }): Plan {
  const key = planKey(tool);
  const hit = plans.get(key);
  if (hit) return hit;
  let weight = Infinity;
  try {
    weight = inlineWeight(JSON.parse(tool.inputSchema) as Record<string, unknown>);
  } catch {
    // The worker reports what is wrong with it.
  }
  const plan: Plan = weight <= INLINE_LIMITS.weight ? { kind: "inline", validate: null } : { kind: "worker" };
  // An edit changes updatedAt, so a stale plan is never used; drop the older versions.
  for (const old of plans.keys()) if (old.startsWith(`${tool.id}:`)) plans.delete(old);
  if (plans.size >= MAX_CACHED) plans.delete(plans.keys().next().value!);
  plans.set(key, plan);
  return plan;
}

/** Starts the validation workers ahead of the first tool call (`toolgate serve` does). */
export function startArgumentValidation(): void {
  startValidationPool(workerSource);
}

/** Where a tool version's arguments are checked now (diagnostics and tests). */
export function argumentCheckPath(tool: {
  id: string;
  updatedAt: number;
  inputSchema: string;
}): "inline" | "inline-pending" | "worker" {
  const plan = planFor(tool);
  return plan.kind === "worker" ? "worker" : plan.validate ? "inline" : "inline-pending";
}

/** What standalone validation code may require: Ajv's runtime helpers and the RE2 engine. */
const asModule = (m: unknown) => (typeof m === "function" ? { default: m } : m);
const STANDALONE_MODULES: Record<string, unknown> = {
  "ajv/dist/runtime/equal": asModule(equalModule),
  "ajv/dist/runtime/ucs2length": asModule(ucs2lengthModule),
  "ajv/dist/runtime/uri": asModule(uriModule),
  "toolgate:re2": (pattern: string) => RE2JS.compile(RE2JS.translateRegExp(pattern)),
};

/**
 * Turns the standalone code a worker generated into a validator. The code is Ajv's own output
 * (schema values are quoted by its code generator); it runs once, costing about as much as
 * parsing it.
 */
function instantiate(code: string): ValidateFunction {
  const module = { exports: {} as { default?: ValidateFunction } };
  const require = (name: string) => {
    if (!Object.hasOwn(STANDALONE_MODULES, name)) throw new Error(`standalone validator requires ${name}`);
    return STANDALONE_MODULES[name];
  };
  new Function("require", "module", "exports", code)(require, module, module.exports);
  return module.exports as unknown as ValidateFunction;
}

export type ArgumentError = { instancePath: string; message: string };

/** The outcome of checking a tool call's arguments against the tool's input schema. */
export type ArgumentCheck =
  | { kind: "valid" }
  | { kind: "invalid"; errors: ArgumentError[] }
  /** The stored schema does not compile (saved before a rule existed); its owner must fix it. */
  | { kind: "schema_error"; message: string }
  /** The check did not finish within the budget, or no worker was free in time. */
  | { kind: "timeout" }
  /** Too many checks are waiting for a worker. */
  | { kind: "busy" };

const MAX_REPORTED_ERRORS = 5;

function reported(errors: { instancePath: string; message?: string }[] | null | undefined): ArgumentError[] {
  return (errors ?? []).slice(0, MAX_REPORTED_ERRORS).map((e) => ({
    instancePath: e.instancePath.slice(0, 200),
    message: (e.message ?? "is invalid").slice(0, 300),
  }));
}

/**
 * Checks `input` (whose JSON text is `inputJson`) against the tool's input schema: in this thread
 * when the plan and the size allow it, else in a validation worker within `budgetMs`.
 */
export async function checkToolArguments(
  tool: { id: string; updatedAt: number; inputSchema: string },
  input: unknown,
  inputJson: string,
  budgetMs: number,
): Promise<ArgumentCheck> {
  const plan = planFor(tool);
  if (plan.kind === "inline" && plan.validate && inputJson.length <= INLINE_LIMITS.inputBytes) {
    const valid: unknown = plan.validate(input);
    return valid === true ? { kind: "valid" } : { kind: "invalid", errors: reported(plan.validate.errors) };
  }
  const wantCode = plan.kind === "inline" && !plan.validate;
  const answer = await validateInPool(
    workerSource,
    planKey(tool),
    tool.inputSchema,
    inputJson,
    budgetMs,
    wantCode,
  );
  if (wantCode && answer.code !== undefined) {
    try {
      plan.validate = instantiate(answer.code);
    } catch {
      // Keep validating this tool in the workers.
      plans.set(planKey(tool), { kind: "worker" });
    }
  }
  const { code: _code, ...check } = answer;
  void _code;
  return check;
}

/**
 * The validation worker's loop. Runs in the worker: it may use only its parameters (its source
 * is sent there as text). Compiled validators are kept per tool version, a few at a time.
 */
function validationWorkerMain(
  ajvInstance: Ajv2020,
  toStandalone: typeof standaloneCode,
  port: import("node:worker_threads").MessagePort,
): void {
  const compiled = new Map<string, ValidateFunction | string>();
  port.on("message", (job: { id: number; key: string; schema: string; input: string; wantCode: boolean }) => {
    let validate = compiled.get(job.key);
    if (validate === undefined) {
      try {
        const { $schema: _s, $id: _i, ...schema } = JSON.parse(job.schema) as Record<string, unknown>;
        void _s;
        void _i;
        validate = ajvInstance.compile(schema);
        ajvInstance.removeSchema(schema);
      } catch (error) {
        validate = error instanceof Error ? error.message : String(error);
      }
      if (compiled.size >= 50) compiled.delete(compiled.keys().next().value!);
      compiled.set(job.key, validate);
    }
    // Compiled now or before: the validation budget starts here.
    port.postMessage({ id: job.id, compiled: true });
    if (typeof validate === "string") {
      port.postMessage({ id: job.id, kind: "schema_error", message: validate });
      return;
    }
    let code: string | undefined;
    if (job.wantCode) {
      try {
        code = toStandalone(ajvInstance, validate);
      } catch {
        // The tool stays on the worker path.
      }
    }
    try {
      const valid: unknown = validate(JSON.parse(job.input));
      if (typeof valid !== "boolean") throw new Error("the schema is asynchronous");
      const errors = (validate.errors ?? []).slice(0, 5).map((e) => ({
        instancePath: e.instancePath.slice(0, 200),
        message: (e.message ?? "is invalid").slice(0, 300),
      }));
      port.postMessage(
        valid ? { id: job.id, kind: "valid", code } : { id: job.id, kind: "invalid", errors, code },
      );
    } catch (error) {
      // A schema that recurses on the same value overflows the stack: that is a schema problem.
      port.postMessage({
        id: job.id,
        kind: "schema_error",
        message: error instanceof Error ? error.message : String(error),
      });
    }
  });
}

/**
 * Bundled Ajv and RE2JS for the worker, as source text: the single executable defines it at build
 * time (scripts/build-binary.mjs), because there `require` cannot load packages from disk.
 */
declare const __TOOLGATE_VALIDATOR_DEPS__: string | undefined;

let source: string | undefined;

/** The worker's code: the dependencies, makeToolAjv and the loop above. */
function workerSource(): string {
  if (source) return source;
  let deps: string;
  if (typeof __TOOLGATE_VALIDATOR_DEPS__ === "string") {
    deps = `${__TOOLGATE_VALIDATOR_DEPS__}\nconst { Ajv2020, RE2JS, standaloneCode } = __toolgateValidatorDeps;`;
  } else {
    const require = createRequire(import.meta.url);
    deps = `const { Ajv2020 } = require(${JSON.stringify(require.resolve("ajv/dist/2020.js"))});
const { RE2JS } = require(${JSON.stringify(require.resolve("re2js"))});
const standaloneCode = require(${JSON.stringify(require.resolve("ajv/dist/standalone/index.js"))}).default;`;
  }
  // __name: bundlers that keep function names wrap nested functions in it.
  source = `"use strict";
var __name = (f) => f;
const { parentPort } = require("node:worker_threads");
${deps}
const makeToolAjv = ${makeToolAjv.toString()};
(${validationWorkerMain.toString()})(makeToolAjv(Ajv2020, RE2JS), standaloneCode, parentPort);
parentPort.postMessage({ ready: true });
`;
  return source;
}
