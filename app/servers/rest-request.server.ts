/**
 * Turns a tool call's arguments into the HTTP request its endpoint mapping describes
 * (docs/decisions/043-rest-mapping-and-api-credentials.md): path placeholders filled with RFC 6570
 * simple-expansion escaping, query arguments as OpenAPI `form` style (arrays repeated when
 * `explode` is true, joined by a literal comma when false), header arguments, and the JSON body.
 * Pure: no I/O, so every encoding rule is tested on its own.
 */
import type { ApiAuth } from "./api-credentials.server";
import { PLACEHOLDER, type ParamMapping } from "./tool-definition.server";

export type RestTarget = {
  /** "http:" or "https:". */
  protocol: string;
  hostname: string;
  port: number;
  /** The origin the request goes to (scheme://host:port), for pools and the credential check. */
  origin: string;
  /** Path and query, exactly as sent on the request line. */
  path: string;
  headers: Record<string, string>;
  /** The JSON body text, or null when the request has none. */
  body: string | null;
};

export type BuildInput = {
  url: string;
  method: string;
  params: Record<string, ParamMapping> | null;
  args: Record<string, unknown>;
  baseUrl: string | null;
  credential: (ApiAuth & { secret: string }) | null;
};

export type BuildResult = { ok: true; target: RestTarget; credentialSent: boolean } | { ok: false; message: string };

/**
 * RFC 6570 §3.2.2 simple string expansion: every character outside the unreserved set
 * (ALPHA / DIGIT / "-" / "." / "_" / "~") is percent-encoded as UTF-8, so "/", "?", "#", "%" and
 * "&" in an argument are data, never structure. encodeURIComponent leaves !'()* alone; they are
 * reserved (sub-delims) and are encoded here too.
 */
export function encodeUnreserved(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function scalarText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  // Objects have no single form-style text; they travel as JSON.
  return JSON.stringify(value);
}

/** One path segment's value; "." and ".." would be dot-segments to every URL parser on the way. */
function pathValue(arg: string, value: unknown): { ok: true; text: string } | { ok: false; message: string } {
  if (value === undefined || value === null) return { ok: false, message: `The argument ${arg} is required (it is part of the URL path).` };
  const text = Array.isArray(value) ? value.map((v) => scalarText(v) ?? "").join(",") : scalarText(value)!;
  if (text === "") return { ok: false, message: `The argument ${arg} may not be empty (it is part of the URL path).` };
  if (text === "." || text === "..") return { ok: false, message: `The argument ${arg} may not be "." or ".." (it is part of the URL path).` };
  const encoded = Array.isArray(value) ? value.map((v) => encodeUnreserved(scalarText(v) ?? "")).join(",") : encodeUnreserved(text);
  return { ok: true, text: encoded };
}

function queryPairs(name: string, value: unknown, explode: boolean): string[] {
  const key = encodeUnreserved(name);
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) {
    const items = value.map((v) => encodeUnreserved(scalarText(v) ?? ""));
    if (items.length === 0) return [];
    // OpenAPI 3 "Style Values", form: explode repeats the name; otherwise one comma-separated value,
    // the comma itself left literal (the delimiter), every comma inside an item encoded.
    return explode ? items.map((item) => `${key}=${item}`) : [`${key}=${items.join(",")}`];
  }
  return [`${key}=${encodeUnreserved(scalarText(value)!)}`];
}

/**
 * Whether `origin` + `path` lies under `base`: the same origin, and the base's path a segment
 * prefix of the path as a URL parser resolves it (dot-segments of a hand-written template such as
 * "/v1/../admin" are resolved first, as the upstream would).
 */
export function isUnderBase(origin: string, path: string, base: URL): boolean {
  if (origin !== base.origin) return false;
  const basePath = base.pathname.replace(/\/+$/, "");
  if (basePath === "") return true;
  let resolved: string;
  try {
    resolved = new URL(path.split("?")[0]!, origin).pathname;
  } catch {
    return false;
  }
  return resolved === basePath || resolved.startsWith(`${basePath}/`);
}

const BODY_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export function buildRestRequest(input: BuildInput): BuildResult {
  const { args, params } = input;
  // 1. The URL template: a path on the base URL, or a full URL.
  let template = input.url;
  if (template.startsWith("/")) {
    if (!input.baseUrl) return { ok: false, message: "The server has no base URL; its owner must set one for this tool's path." };
    template = input.baseUrl.replace(/\/+$/, "") + template;
  }
  // The origin comes from the template before any argument is put in (placeholders are path-only).
  let templateUrl: URL;
  try {
    templateUrl = new URL(template.replace(PLACEHOLDER, "x"));
  } catch {
    return { ok: false, message: "The tool's endpoint URL is not valid; its owner must fix it." };
  }
  const schemeEnd = template.indexOf("//") + 2;
  const pathStart = template.slice(schemeEnd).search(/[/?#]/);
  let pathTemplate = pathStart === -1 ? "/" : template.slice(schemeEnd + pathStart);
  const hashAt = pathTemplate.indexOf("#");
  if (hashAt !== -1) pathTemplate = pathTemplate.slice(0, hashAt);
  const queryAt = pathTemplate.indexOf("?");
  const fixedQuery = queryAt === -1 ? "" : pathTemplate.slice(queryAt + 1);
  if (queryAt !== -1) pathTemplate = pathTemplate.slice(0, queryAt);

  // 2. Sort arguments by where they go.
  const byPlaceholder = new Map<string, string>();
  const query: string[] = fixedQuery ? [fixedQuery] : [];
  // No prototypes: an argument named "__proto__" or "constructor" is data like any other.
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  const bodyObject: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  let wholeBody: { value: unknown } | null = null;
  const mapped = params ?? {};
  const mappingOf = (arg: string) => (Object.hasOwn(mapped, arg) ? mapped[arg] : undefined);
  for (const [arg, mapping] of Object.entries(mapped)) {
    if (mapping.in === "path") byPlaceholder.set(mapping.name ?? arg, arg);
  }
  for (const [arg, value] of Object.entries(args)) {
    const mapping = mappingOf(arg) ?? (byPlaceholder.has(arg) ? undefined : placeholderDefault(arg, pathTemplate));
    if (!mapping) {
      if (!byPlaceholder.has(arg)) bodyObject[arg] = value;
      continue;
    }
    switch (mapping.in) {
      case "path":
        byPlaceholder.set(mapping.name ?? arg, arg);
        break;
      case "query":
        query.push(...queryPairs(mapping.name ?? arg, value, mapping.explode ?? true));
        break;
      case "header": {
        if (value === undefined || value === null) break;
        const text = Array.isArray(value) ? value.map((v) => scalarText(v) ?? "").join(",") : scalarText(value)!;
        // RFC 9110 §5.5: visible ASCII, spaces and tabs; no line breaks (no header injection).
        if (/[^\t\x20-\x7e]/.test(text)) return { ok: false, message: `The argument ${arg} cannot be sent as a header: it holds characters other than printable ASCII.` };
        headers[mapping.name ?? arg] = text;
        break;
      }
      case "body":
        wholeBody = { value };
        break;
    }
  }

  // 3. Fill the path.
  let missing: string | null = null;
  let refused: string | null = null;
  const path = pathTemplate.replace(PLACEHOLDER, (_m, name: string) => {
    const arg = byPlaceholder.get(name) ?? name;
    const value = Object.hasOwn(args, arg) ? args[arg] : undefined;
    const result = pathValue(arg, value);
    if (!result.ok) {
      if (value === undefined || value === null) missing ??= result.message;
      else refused ??= result.message;
      return "";
    }
    return result.text;
  });
  if (refused || missing) return { ok: false, message: (refused ?? missing)! };

  // 4. The body: the "body" argument, or every argument not mapped elsewhere (tools without a
  // mapping send all their arguments this way, as before the mapping existed).
  let body: string | null = null;
  if (BODY_METHODS.has(input.method)) {
    if (wholeBody) body = wholeBody.value === undefined ? null : JSON.stringify(wholeBody.value);
    else if (!params || Object.keys(bodyObject).length > 0) body = JSON.stringify(bodyObject);
  } else {
    // GET: arguments not mapped elsewhere go to the query.
    for (const [arg, value] of Object.entries(bodyObject)) query.push(...queryPairs(arg, value, true));
  }

  // 5. The credential, only to the server's own base URL (decision 043).
  let credentialSent = false;
  const origin = templateUrl.origin;
  if (input.credential && input.baseUrl) {
    let base: URL | null = null;
    try {
      base = new URL(input.baseUrl);
    } catch {
      base = null;
    }
    if (base && isUnderBase(origin, path, base)) {
      const c = input.credential;
      if (c.type === "api-key" && c.in === "header") headers[c.name] = c.secret;
      else if (c.type === "api-key") query.push(`${encodeUnreserved(c.name)}=${encodeUnreserved(c.secret)}`);
      else if (c.type === "bearer") headers.Authorization = `Bearer ${c.secret}`;
      else headers.Authorization = `Basic ${Buffer.from(`${c.username}:${c.secret}`, "utf8").toString("base64")}`;
      credentialSent = true;
    }
  }

  const protocol = templateUrl.protocol;
  return {
    ok: true,
    credentialSent,
    target: {
      protocol,
      hostname: templateUrl.hostname.replace(/^\[|\]$/g, ""),
      port: templateUrl.port ? Number(templateUrl.port) : protocol === "https:" ? 443 : 80,
      origin,
      path: (path || "/") + (query.length ? `?${query.join("&")}` : ""),
      headers,
      body,
    },
  };
}

/** An argument named like a placeholder of the path, with no mapping of its own, fills it. */
function placeholderDefault(arg: string, pathTemplate: string): ParamMapping | undefined {
  return pathTemplate.includes(`{${arg}}`) ? { in: "path" } : undefined;
}
