type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level | "silent", number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

export const REDACTED = "[redacted]";

// A field is redacted when its name, lower-cased without separators, is one of these or contains
// one of the fragments. Over-redacting an id now and then is the price of never leaking a secret.
const SECRET_NAMES = new Set(["code", "sid", "key", "pin", "otp", "state", "nonce", "body"]);
const SECRET_FRAGMENTS = [
  "password",
  "passwd",
  "secret",
  "token",
  "authorization",
  "cookie",
  "csrf",
  "apikey",
  "signature",
  "credential",
  "privatekey",
  "datakey",
  "verifier",
  "sessionid",
  "headers",
];

// Field names repeat on every line (an access line has seven); the verdict is remembered.
const secretFieldVerdicts = new Map<string, boolean>();

export function isSecretField(name: string): boolean {
  let secret = secretFieldVerdicts.get(name);
  if (secret === undefined) {
    const k = name.toLowerCase().replace(/[^a-z0-9]/g, "");
    secret = SECRET_NAMES.has(k) || SECRET_FRAGMENTS.some((f) => k.includes(f));
    if (secretFieldVerdicts.size < 1000) secretFieldVerdicts.set(name, secret);
  }
  return secret;
}

// Secrets that can hide inside free text (error messages, URLs): our bearer secrets by prefix
// (app/oauth/tokens.server.ts), Authorization header values, and secret-bearing query parameters.
const SECRET_PATTERNS: [RegExp, string][] = [
  [/\btg[arcs]_[A-Za-z0-9_-]{8,}/g, REDACTED],
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, `$1 ${REDACTED}`],
  [
    /([?&](?:code|state|code_verifier|access_token|refresh_token|token|client_secret|password|id_token)=)[^&#\s"']*/gi,
    `$1${REDACTED}`,
  ],
];

// Every pattern above needs one of these: "tg?_" (a token prefix), whitespace (after Bearer/Basic)
// or "?"/"&" (before a parameter). Text without any of them (ids, paths, methods, addresses, even
// with underscores) has nothing to redact, and one test is cheaper than three replacements.
const MAY_HOLD_SECRET = /tg[arcs]_|[\s?&]/;

export function scrubText(text: string): string {
  if (!MAY_HOLD_SECRET.test(text)) return text;
  let out = text;
  for (const [pattern, replacement] of SECRET_PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

/** A copy of `value` that is safe to write: secret fields and secret-looking text redacted. */
export function scrub(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return scrubText(value);
  if (value === null || typeof value !== "object") return value;
  if (depth > 6) return "[nested]";
  if (value instanceof Error) {
    const out: Record<string, unknown> = { name: value.name, message: scrubText(value.message) };
    if (value.stack) out.stack = scrubText(value.stack);
    if (value.cause !== undefined) out.cause = scrub(value.cause, depth + 1);
    return out;
  }
  if (value instanceof URL) return scrubText(value.href);
  if (value instanceof Date) return value.toISOString();
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return `[${value.byteLength} bytes]`;
  if (Array.isArray(value)) return value.slice(0, 100).map((v) => scrub(v, depth + 1));
  const entries = value instanceof Headers || value instanceof Map ? [...value.entries()] : Object.entries(value);
  // No prototype: a logged object's own "__proto__" key stays a field instead of replacing it.
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [k, v] of entries) out[String(k)] = isSecretField(String(k)) ? REDACTED : scrub(v, depth + 1);
  return out;
}

let infoStream: "stdout" | "stderr" = "stdout";

/**
 * Where debug and info lines go when no writer is given. CLI commands other than `serve` send
 * every log line to stderr, so their stdout (`--json`) stays machine-readable.
 */
export function setLogOutput(target: "stdout" | "stderr"): void {
  infoStream = target;
}

// Info and debug lines on stdout are written once per event-loop turn instead of once per line:
// under load that is one write for many requests' access lines. Warnings and errors are written at
// once (stderr), and whatever is buffered is written before the process exits.
let stdoutBuffer: string[] = [];
let flushScheduled = false;
let exitHooked = false;

function flushStdout(): void {
  flushScheduled = false;
  if (stdoutBuffer.length === 0) return;
  const text = stdoutBuffer.join("\n") + "\n";
  stdoutBuffer = [];
  process.stdout.write(text);
}

function bufferStdout(line: string): void {
  stdoutBuffer.push(line);
  if (!exitHooked) {
    exitHooked = true;
    process.once("exit", flushStdout);
  }
  if (flushScheduled) return;
  flushScheduled = true;
  setImmediate(flushStdout);
}

// Lines written in the same millisecond share one ISO timestamp string.
let lastMs = 0;
let lastIso = "";
function timestamp(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

export type Logger = {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
};

/**
 * Structured JSON lines on stdout (warnings and errors on stderr); fields pass through `scrub`
 * first. A request's lines carry its `requestId` through the request's own logger (`withFields`,
 * made by app/context.server.ts `requestContext`).
 */
export function createLogger(level: Level | "silent" = "info", write?: (line: string, level: Level) => void): Logger {
  const min = ORDER[level];
  const emit: Emit = (lvl, msg, base, fields) => {
    if (ORDER[lvl] < min) return;
    let line: string;
    try {
      line = formatLine(lvl, msg, base, fields);
    } catch {
      // A value that cannot be serialised (a cycle, a BigInt) must not take the request down.
      const requestId = fields?.requestId ?? base?.requestId;
      line = JSON.stringify({ time: new Date().toISOString(), level: lvl, msg: scrubText(msg), ...(typeof requestId === "string" ? { requestId } : {}), unserialisable: true });
    }
    if (write) write(line, lvl);
    else if (lvl === "error" || lvl === "warn" || infoStream === "stderr") process.stderr.write(line + "\n");
    else bufferStdout(line);
  };
  return loggerOver(emit, undefined);
}

/** Writes one line: `base` fields first (those `fields` also has are left out), then `fields`. */
type Emit = (lvl: Level, msg: string, base: Record<string, unknown> | undefined, fields: Record<string, unknown> | undefined) => void;
const emitters = new WeakMap<Logger, { emit: Emit; base: Record<string, unknown> | undefined }>();

function loggerOver(emit: Emit, base: Record<string, unknown> | undefined): Logger {
  const logger: Logger = {
    debug: (m, f) => emit("debug", m, base, f),
    info: (m, f) => emit("info", m, base, f),
    warn: (m, f) => emit("warn", m, base, f),
    error: (m, f) => emit("error", m, base, f),
  };
  emitters.set(logger, { emit, base });
  return logger;
}

// The line is written field by field instead of building an object and serialising it: the access
// log writes one per request, and the object (with keys added one by one) was most of its cost.
// JSON.stringify of each name and value gives the same text, in the same order.
const RESERVED = new Set(["time", "level", "msg"]);

function formatLine(lvl: Level, msg: string, base: Record<string, unknown> | undefined, fields: Record<string, unknown> | undefined): string {
  let line = `{"time":"${timestamp()}","level":"${lvl}","msg":${JSON.stringify(scrubText(msg))}`;
  if (base) for (const k in base) if (!(fields && Object.hasOwn(fields, k))) line += field(k, base[k]);
  if (fields) for (const k in fields) line += field(k, fields[k]);
  return line + "}";
}

function field(name: string, value: unknown): string {
  // A field may not pass for the line's own time, level or message.
  const key = RESERVED.has(name) ? `field_${name}` : name;
  const text = JSON.stringify(isSecretField(name) ? REDACTED : scrub(value, 1));
  // Like JSON.stringify of an object: a field whose value has no JSON form (undefined, a function) is left out.
  return text === undefined ? "" : `,${JSON.stringify(key)}:${text}`;
}

/**
 * A logger that adds `fields` (a request's id) to every line, ahead of the line's own fields, and
 * writes through `logger`.
 */
export function withFields(logger: Logger, fields: Record<string, unknown>): Logger {
  const over = emitters.get(logger);
  if (over) return loggerOver(over.emit, over.base ? { ...over.base, ...fields } : fields);
  const add = (own?: Record<string, unknown>) => (own ? { ...fields, ...own } : fields);
  return {
    debug: (m, f) => logger.debug(m, add(f)),
    info: (m, f) => logger.info(m, add(f)),
    warn: (m, f) => logger.warn(m, add(f)),
    error: (m, f) => logger.error(m, add(f)),
  };
}
