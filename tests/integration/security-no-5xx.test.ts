/**
 * No request is answered with a 5xx (decision 029), over real HTTP against the built app
 * (`toolgate serve` as a child process, so `npm run build` first).
 *
 * First the named cases that used to answer 500 or stop the process; then a generative battery
 * (fast-check): every route of the app (the Remix routes of the build and every registered protocol
 * route, with path parameters both real and hostile) × method × header shapes (cookies, bearer
 * tokens, content types, origins) × body shapes (empty, junk, JSON of the wrong type, deep nesting,
 * large, JSON-RPC, forms, broken multipart) × query shapes (repeated, huge, malformed). Every answer
 * must be below 500 and carry no stack trace, and the server's log must hold no `error` line.
 * The run count is fixed (TOOLGATE_FC_RUNS overrides it, TOOLGATE_FC_SEED replays a failure; the
 * seed is printed on failure).
 */
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import path from "node:path";
import { pathToFileURL } from "node:url";
import Database from "better-sqlite3";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_PAGE_FORM_BYTES } from "~/http/page-form.server";
import { protocolRoutePatterns } from "~/http/protocol.server";
import "~/http/routes.server";
import { createUser, PASSWORD, startApp, type AppUnderTest } from "../e2e/fixtures";

let app: AppUnderTest & { stop(): Promise<void> };
let port = 0;

type Res = { status: number; text: string; headers: http.IncomingHttpHeaders };

/**
 * One request on a connection of its own (a hostile request may leave its connection unusable),
 * with the target sent exactly as given (no URL normalisation on the way). An answer that arrives
 * before the server closes the connection on an unread body counts; no answer within 15 s fails.
 */
function send(method: string, target: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<Res> {
  return new Promise((resolve, reject) => {
    let answered: Res | undefined;
    const req = http.request(
      { host: "127.0.0.1", port, method, path: target, agent: false, headers: { Host: `localhost:${port}`, Connection: "close", ...headers }, setHost: false, timeout: 15_000 },
      (res) => {
        const chunks: Buffer[] = [];
        answered = { status: res.statusCode ?? 0, text: "", headers: res.headers };
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ ...answered!, text: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", () => resolve({ ...answered!, text: Buffer.concat(chunks).toString("utf8") }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within 15 s: ${method} ${target.slice(0, 100)}`)));
    req.on("error", (error: NodeJS.ErrnoException) => {
      if (answered) return resolve(answered);
      // Past the body limit the server answers 413 and closes without reading the rest; Node's
      // client, still writing, may report the closed connection before the answer it received.
      const closed = error.code === "EPIPE" || error.code === "ECONNRESET";
      if (closed && body !== undefined && Buffer.byteLength(body) > MAX_PAGE_FORM_BYTES) return resolve({ status: 413, text: "", headers: {} });
      reject(error);
    });
    req.end(body);
  });
}

const STACK = /\n\s+at [\w.<>]+ \(|\/work\/|node_modules\/|\.tsx?:\d+:\d+|file:\/\/\/(work|home|usr|tmp)/;
const FORM = "application/x-www-form-urlencoded";
const REDIRECT = "https://client.example.test/callback";
const LOOPBACK = "http://127.0.0.1/callback";

// The world, filled in beforeAll.
const w = { cookie: "", csrf: "", serverId: "", toolId: "", userId: "", clientId: "", accessToken: "", grantId: "" };

function cookieOf(res: Res): string {
  const set = res.headers["set-cookie"];
  if (!set?.length) throw new Error("no Set-Cookie");
  return set[0]!.split(";")[0]!;
}

function csrfOf(html: string): string {
  const all = [...html.matchAll(/name="csrf" value="([^"]+)"/g)];
  if (all.length === 0) throw new Error("no csrf field in page");
  return all.at(-1)![1]!;
}

const postForm = (target: string, fields: [string, string][], cookie?: string) =>
  send("POST", target, { "Content-Type": FORM, Origin: app.url, ...(cookie ? { Cookie: cookie } : {}) }, new URLSearchParams(fields).toString());

function pkce() {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

function authorizeTarget(extra: Record<string, string> = {}, challenge = pkce().challenge) {
  return `/authorize?${new URLSearchParams({
    response_type: "code",
    client_id: w.clientId,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state: "s",
    scope: "mcp:tools",
    resource: `${app.url}/mcp/${w.serverId}`,
    ...extra,
  })}`;
}

beforeAll(async () => {
  app = await startApp({ TOOLGATE_RATE_LIMIT: "off" });
  port = Number(new URL(app.url).port);
  const owner = await createUser(app, { owner: true });
  w.userId = owner.id;
  const page = await send("GET", "/sign-in");
  const signedIn = await postForm("/sign-in", [["csrf", csrfOf(page.text)], ["returnTo", "/"], ["email", owner.email], ["password", PASSWORD]], cookieOf(page));
  expect(signedIn.status).toBe(302);
  w.cookie = cookieOf(signedIn);
  w.csrf = csrfOf((await send("GET", "/servers/new", { Cookie: w.cookie })).text);
  const created = await postForm("/servers/new", [["csrf", w.csrf], ["name", "Battery"], ["description", ""]], w.cookie);
  expect(created.status, created.text).toBe(302);
  w.serverId = created.headers.location!.split("/")[2]!.split("?")[0]!;
  const tool = await postForm(
    `/servers/${w.serverId}/tools/new`,
    [["csrf", w.csrf], ["name", "echo"], ["description", "Echo"], ["inputSchema", '{"type":"object"}'], ["endpointUrl", "https://tools.example.test/x"], ["endpointMethod", "POST"], ["endpointHeaders", ""]],
    w.cookie,
  );
  expect(tool.status, tool.text).toBe(302);
  const db = new Database(path.join(app.dataDir, "toolgate.db"), { readonly: true });
  w.toolId = (db.prepare("SELECT id FROM tools WHERE server_id = ?").get(w.serverId) as { id: string }).id;
  db.close();
  const registered = await send("POST", "/register", { "Content-Type": "application/json" }, JSON.stringify({ client_name: "Battery", redirect_uris: [REDIRECT, LOOPBACK], token_endpoint_auth_method: "none" }));
  w.clientId = (JSON.parse(registered.text) as { client_id: string }).client_id;
  // One full consent flow: a real access token for the MCP endpoint.
  const { verifier, challenge } = pkce();
  const start = await send("GET", authorizeTarget({}, challenge), { Cookie: w.cookie });
  expect(start.status, start.text).toBe(302);
  const requestId = new URL(start.headers.location!, app.url).searchParams.get("request")!;
  const consent = await send("GET", `/authorize?request=${requestId}`, { Cookie: w.cookie });
  const approved = await postForm("/authorize", [["csrf", csrfOf(consent.text)], ["request", requestId], ["tool", w.toolId], ["intent", "approve"]], w.cookie);
  expect(approved.status, approved.text).toBe(303);
  const code = new URL(approved.headers.location!).searchParams.get("code")!;
  const issued = await postForm("/token", [["grant_type", "authorization_code"], ["client_id", w.clientId], ["code", code], ["code_verifier", verifier], ["redirect_uri", REDIRECT]]);
  expect(issued.status, issued.text).toBe(200);
  w.accessToken = (JSON.parse(issued.text) as { access_token: string }).access_token;
  const connections = await send("GET", "/connections", { Cookie: w.cookie });
  w.grantId = /name="grantId" value="([^"]+)"/.exec(connections.text)?.[1] ?? "";
}, 90_000);

afterAll(async () => {
  await app?.stop();
});

function expectNo5xx(res: Res, what: string) {
  expect(res.status, `${what}: ${res.text.slice(0, 300)}`).toBeLessThan(500);
  expect(res.status, what).toBeGreaterThan(0);
  expect(res.text, what).not.toMatch(STACK);
}

function errorLines(): string[] {
  return app.output().split("\n").filter((line) => line.includes('"level":"error"'));
}

const mcpHeaders = () => ({
  "Content-Type": "application/json",
  Accept: "application/json, text/event-stream",
  Authorization: `Bearer ${w.accessToken}`,
  "MCP-Protocol-Version": "2025-06-18",
});

describe("the named cases that used to answer 500", () => {
  it("a loopback redirect_uri with a port past 65535 is refused on our page, registration included", async () => {
    for (const uri of ["http://127.0.0.1:65536/callback", "http://127.0.0.1:99999/callback", "http://localhost:70000/callback", "http://[::1]:99999/callback"]) {
      const res = await send("GET", authorizeTarget({ redirect_uri: uri }), { Cookie: w.cookie });
      expectNo5xx(res, uri);
      expect(res.status, uri).toBe(400);
      expect(res.text).toContain("The application redirect URL is no longer valid.");
      const reg = await send("POST", "/register", { "Content-Type": "application/json" }, JSON.stringify({ redirect_uris: [uri], token_endpoint_auth_method: "none" }));
      expect(reg.status, uri).toBe(400);
    }
    // The highest port still works: a stored request whose page shows.
    const ok = await send("GET", authorizeTarget({ redirect_uri: "http://127.0.0.1:65535/callback" }), { Cookie: w.cookie });
    expect(ok.status).toBe(302);
    const page = await send("GET", ok.headers.location!, { Cookie: w.cookie });
    expect(page.status).toBe(200);
    expect(page.text).toContain("127.0.0.1:65535");
  });

  it("JSON-RPC methods named after Object.prototype are unknown methods, and the rest of a batch is answered", async () => {
    const names = ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf", "isPrototypeOf", "__defineGetter__", "propertyIsEnumerable", "toLocaleString"];
    for (const method of names) {
      const res = await send("POST", `/mcp/${w.serverId}`, mcpHeaders(), JSON.stringify({ jsonrpc: "2.0", id: 7, method }));
      expectNo5xx(res, method);
      expect(res.status, res.text).toBe(200);
      expect((JSON.parse(res.text) as { error: { code: number } }).error.code, method).toBe(-32601);
    }
    // A batch (2025-03-26 allows them): every call gets its own answer.
    const batch = [{ jsonrpc: "2.0", id: 1, method: "ping" }, ...names.map((method, i) => ({ jsonrpc: "2.0", id: i + 2, method })), { jsonrpc: "2.0", id: 99, method: "tools/list" }];
    const res = await send("POST", `/mcp/${w.serverId}`, { ...mcpHeaders(), "MCP-Protocol-Version": "2025-03-26" }, JSON.stringify(batch));
    expectNo5xx(res, "batch");
    expect(res.status, res.text).toBe(200);
    const answers = JSON.parse(res.text) as { id: number; result?: unknown; error?: { code: number } }[];
    expect(answers.map((a) => a.id).sort((a, b) => a - b)).toEqual(batch.map((b) => b.id).sort((a, b) => a - b));
    expect(answers.find((a) => a.id === 1)!.result).toEqual({});
    expect(answers.find((a) => a.id === 99)!.result).toHaveProperty("tools");
    for (const a of answers.filter((x) => x.id !== 1 && x.id !== 99)) expect(a.error?.code).toBe(-32601);
  });

  it("malformed percent-encoding in a path is a 404, never a 500", async () => {
    for (const target of ["/.well-known/oauth-protected-resource/mcp/%", "/.well-known/oauth-protected-resource/mcp/%zz", "/.well-known/oauth-protected-resource/mcp/%E0%A4%A", "/.well-known/oauth-protected-resource/mcp/ab%63", "/mcp/%", "/servers/%", "/servers/%/tools/%", "/auth/%", "/auth/%/callback", "/users/%/remove", "/%", "/%%", "/build/%"]) {
      const res = await send("GET", target, { Cookie: w.cookie });
      expectNo5xx(res, target);
      expect([404, 302], target).toContain(res.status);
    }
  });

  it("a broken or hostile form body to any page action is a 4xx", async () => {
    const actions = ["/sign-in", "/setup", "/sign-out", "/connections", `/servers/${w.serverId}/connections`, "/authorize", "/servers/new", `/servers/${w.serverId}`, `/servers/${w.serverId}/delete`, `/servers/${w.serverId}/edit`, `/servers/${w.serverId}/tools/new`, `/servers/${w.serverId}/tools/${w.toolId}`, `/users/${w.userId}/remove`, "/users", "/auth/github", "/?index"];
    const many = Array.from({ length: 5000 }, (_, i) => `f${i}=1`).join("&");
    const bodies: [string, string, string | Buffer, number[]][] = [
      ["multipart junk", "multipart/form-data; boundary=zzz", "junk", [400]],
      ["multipart without boundary", "multipart/form-data", "--zzz\r\n", [400]],
      ["multipart truncated", "multipart/form-data; boundary=zzz", '--zzz\r\nContent-Disposition: form-data; name="csrf"\r\n\r\nabc', [400]],
      ["multipart with a file", "multipart/form-data; boundary=zzz", '--zzz\r\nContent-Disposition: form-data; name="email"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--zzz--\r\n', [400]],
      ["multipart with a quoted boundary", 'multipart/form-data; boundary="a b"', "--a b\r\n", [400]],
      ["urlencoded with broken %", FORM, "csrf=%zz&email=%&password=%E0%A4%A", []],
      ["urlencoded in a strange charset", `${FORM}; charset=utf-16`, Buffer.from("\xff\xfea\x00=\x00b\x00", "latin1"), []],
      ["urlencoded binary", FORM, randomBytes(2048), []],
      ["5,000 fields", FORM, many, [413]],
      ["2 MB", FORM, `a=${"x".repeat(2 * 1024 * 1024)}`, [413]],
    ];
    for (const target of actions) {
      for (const [name, type, body, statuses] of bodies) {
        const res = await send("POST", target, { "Content-Type": type, Origin: app.url, Cookie: w.cookie }, body);
        expectNo5xx(res, `${target} ${name}`);
        expect(res.status, `${target} ${name}`).toBeGreaterThanOrEqual(300);
        if (statuses.length) expect(statuses, `${target} ${name}: ${res.status}`).toContain(res.status);
      }
    }
    // The session survived all that (no sign-out went through).
    expect((await send("GET", "/connections", { Cookie: w.cookie })).status).toBe(200);
    expect(errorLines()).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// The generative battery.
// ---------------------------------------------------------------------------------------------

type BuiltRoute = { id: string; path?: string; index?: boolean; parentId?: string };

/** Every route of the app as a path template (`:name` for a parameter). */
async function routeTemplates(): Promise<string[]> {
  const file = path.resolve(import.meta.dirname, "../../build/index.js");
  const build = (await import(pathToFileURL(file).href)) as { routes: Record<string, BuiltRoute> };
  const routes = build.routes;
  const full = (r: BuiltRoute): string => {
    const parent = r.parentId ? routes[r.parentId] : undefined;
    const own = r.path ?? "";
    return parent ? `${full(parent).replace(/\/$/, "")}/${own}` : `/${own}`;
  };
  const pages = Object.values(routes).map((r) => full(r).replace(/\/+$/, "") || "/");
  // Protocol patterns read back as templates: each group or character class is one parameter.
  const protocol = protocolRoutePatterns().map((pattern) =>
    pattern.source
      .replace(/^\^|\$$/g, "")
      .replace(/\(?\[[^\]]*\](\{[^}]*\}|[+*])?\)?/g, ":param")
      .replace(/\\(.)/g, "$1"),
  );
  const all = [...new Set([...pages, ...protocol])];
  // Each template names a real route: with real ids it must match one of the patterns or pages.
  expect(protocol.every((t) => !/[\\^$()[\]]/.test(t)), protocol.join(" ")).toBe(true);
  return all;
}

const weirdSegment = fc.constantFrom(
  "", "%", "%zz", "%00", "%2F", "%2e%2e", "..", ".", "constructor", "__proto__", "toString", "a".repeat(300), "x".repeat(70),
  "%E2%80%AE", "%F0%9F%98%80", "é", ";x", "a%20b", "null", "undefined", "-1", "0", "1e309", "%25", "%u0041", "AAAAAAAAAAAAAAAAAAAAAA",
);
const weirdValue = fc.oneof(
  weirdSegment,
  fc.string({ maxLength: 40 }),
  fc.constantFrom("https://evil.example/cb", "http://127.0.0.1:99999/callback", "javascript:alert(1)", "S256", "plain", "code", "mcp:tools", "//evil.example", "/\\evil.example", "\u202e", "\u0000"),
);
const paramNames = fc.constantFrom(
  "client_id", "redirect_uri", "response_type", "code_challenge", "code_challenge_method", "state", "scope", "resource", "request",
  "returnTo", "error", "before", "after", "kind", "q", "_data", "index", "code", "iss", "prompt", "__proto__", "constructor", "a",
);

type Shape = { method: string; target: string; headers: Record<string, string>; body?: string | Buffer; label: string };

function shapes(templates: string[]) {
  const real = () => fc.constantFrom(w.serverId, w.toolId, w.userId, w.grantId || "grant", "github", "oidc", "google");
  const segment = fc.oneof({ weight: 2, arbitrary: real() }, { weight: 3, arbitrary: weirdSegment.map((s) => s.replace(/\//g, "%2F")) });
  const pathOf = fc.tuple(fc.constantFrom(...templates), fc.array(segment, { minLength: 4, maxLength: 4 }), fc.constantFrom("", "", "", "/", "//", ".data", "/.", ";x", "%2F")).map(([template, values, suffix]) => {
    let i = 0;
    return template.replace(/:[A-Za-z]+/g, () => values[i++ % values.length]!) + (template === "/" ? "" : suffix);
  });
  const query = fc.oneof(
    { weight: 3, arbitrary: fc.constant("") },
    { weight: 4, arbitrary: fc.array(fc.tuple(paramNames, weirdValue), { maxLength: 8 }).map((pairs) => (pairs.length ? `?${new URLSearchParams(pairs)}` : "")) },
    { weight: 1, arbitrary: fc.constantFrom("?%", "?a=%zz&a=%", "?=&&==&", `?client_id=${"c".repeat(6000)}`, `?${Array.from({ length: 300 }, (_, i) => `p${i}=1`).join("&")}`, "?request=x&request=y&request=z", "?_data=routes/authorize", "?_data=root", "?index&index") },
  );
  const method = fc.constantFrom("GET", "GET", "GET", "POST", "POST", "POST", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND", "QUERY");
  const cookie = fc.constantFrom("", "", () => w.cookie, "__session=junk", "__session=eyJ.e30.x", `__session=${"a".repeat(4000)}`, "a=b; c", "=;;=", "__session=%");
  const authorization = fc.constantFrom("", "", () => `Bearer ${w.accessToken}`, "Bearer", "Bearer junk", "Bearer tga_xxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "Basic", "Basic !!!", "Basic Og==", `Basic ${Buffer.from("a%zz:b%").toString("base64")}`, "DPoP x", "Bearer a b c", `Bearer ${"t".repeat(5000)}`);
  const contentType = fc.constantFrom(
    "", "application/json", "application/json", FORM, FORM, "multipart/form-data; boundary=zzz", "multipart/form-data", "text/plain", "application/json; charset=latin1",
    `${FORM}; charset=utf-16`, "application/x-www-form-urlencoded;;;", "*/*", "application/jwt", "application/dpop+jwt",
  );
  const origin = fc.constantFrom("", () => app.url, "https://evil.example", "null");
  const accept = fc.constantFrom("", "application/json, text/event-stream", "text/event-stream", "text/html", "*/*", "application/json;q=0");
  const protocolVersion = fc.constantFrom("", "", "2025-06-18", "2025-03-26", "2024-11-05", "1999-01-01", "2026-07-28", "x");
  const jsonValue = fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: "small" }, fc.constant(null), fc.boolean(), fc.double(), fc.string({ maxLength: 20 }), fc.array(tie("value"), { maxLength: 4 }), fc.dictionary(fc.oneof(fc.string({ maxLength: 8 }), paramNames), tie("value"), { maxKeys: 4 })),
  })).value;
  const rpcMethod = fc.constantFrom("initialize", "ping", "tools/list", "tools/call", "notifications/initialized", "notifications/cancelled", "constructor", "__proto__", "toString", "hasOwnProperty", "server/discover", "resources/list", "");
  const rpc = fc.record({ jsonrpc: fc.constantFrom("2.0", "1.0", 2), id: fc.oneof(fc.nat(), fc.string({ maxLength: 5 }), fc.constant(null)), method: rpcMethod, params: jsonValue }, { requiredKeys: ["jsonrpc", "method"] });
  const deep = (n: number, open: string, close: string) => open.repeat(n) + close.repeat(n);
  const body = fc.oneof(
    { weight: 3, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constant("") },
    { weight: 3, arbitrary: jsonValue.map((v) => JSON.stringify(v) ?? "null") },
    { weight: 3, arbitrary: fc.oneof(rpc, fc.array(rpc, { maxLength: 5 })).map((v) => JSON.stringify(v)) },
    { weight: 3, arbitrary: fc.array(fc.tuple(fc.oneof(paramNames, fc.constantFrom("csrf", "email", "password", "intent", "tool", "grantId", "name", "inputSchema", "endpointUrl", "grant_type", "token", "refresh_token")), fc.oneof(weirdValue, fc.constant(w.csrf))), { maxLength: 10 }).map((pairs) => new URLSearchParams(pairs.map(([k, v]) => [k, typeof v === "function" ? "" : v])).toString()) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }).map((a) => Buffer.from(a)) },
    { weight: 1, arbitrary: fc.constantFrom("{", "[", '{"a":', "\u0000", "%", "junk", "--zzz\r\n", '--zzz\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n--zzz--\r\n', deep(5000, "[", "]"), deep(3000, '{"a":', "}"), `{"client_name":"${"n".repeat(200_000)}"}`, "a=".repeat(20_000)) },
  );
  const lazy = (v: string | (() => string)) => (typeof v === "function" ? v() : v);
  const extra = fc.constantFrom<[string, string][]>([], [["X-Forwarded-For", "junk, ::1"]], [["Mcp-Session-Id", "x"]], [["Range", "bytes=0-1"]], [["If-None-Match", "*"]], [["Content-Encoding", "gzip"]], [["Expect", "100-continue"]], [["Host", "evil.example"]]);
  const headers = fc.record({ Cookie: cookie, Authorization: authorization, "Content-Type": contentType, Origin: origin, Accept: accept, "MCP-Protocol-Version": protocolVersion, extra }).map(({ extra: more, ...named }) => {
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(named)) if (lazy(value)) out[name] = lazy(value);
    for (const [name, value] of more) out[name] = value;
    return out;
  });
  // Well-formed envelopes around hostile content reach deeper than random headers, which mostly
  // stop at the first check (Origin, Content-Type, Accept, the bearer token).
  const mcpShape = fc.record({
    method: fc.constantFrom("POST", "POST", "GET", "DELETE"),
    path: fc.constant(null).map(() => `/mcp/${w.serverId}`),
    query: fc.constant(""),
    headers: fc.record({ version: protocolVersion, accept: fc.constantFrom("application/json, text/event-stream", "application/json, text/event-stream", "*/*") }).map(({ version, accept: a }) => ({
      "Content-Type": "application/json",
      Accept: a,
      Authorization: `Bearer ${w.accessToken}`,
      ...(version ? { "MCP-Protocol-Version": version } : {}),
    })),
    body: fc.oneof(fc.oneof(rpc, fc.array(rpc, { minLength: 1, maxLength: 5 })).map((v) => JSON.stringify(v)), body),
  });
  const pageShape = fc.record({
    method: fc.constantFrom("POST", "POST", "PUT", "DELETE", "PATCH"),
    path: pathOf,
    query,
    headers: fc.record({ type: fc.constantFrom(FORM, FORM, "multipart/form-data; boundary=zzz") }).map(({ type }) => ({ "Content-Type": type, Origin: app.url, Cookie: w.cookie })),
    body: fc.oneof(fc.array(fc.tuple(fc.constantFrom("csrf", "intent", "request", "tool", "grantId", "name", "description", "inputSchema", "endpointUrl", "endpointMethod", "endpointHeaders", "email", "password", "role", "returnTo", "__proto__"), fc.oneof(weirdValue, fc.constant(w.csrf), fc.constant(w.toolId), fc.constant("approve"), fc.constant("deny"))), { maxLength: 12 }).map((pairs) => new URLSearchParams(pairs).toString()), body),
  });
  const oauthShape = fc.record({
    method: fc.constantFrom("POST", "POST", "GET", "OPTIONS"),
    path: fc.constantFrom("/token", "/revoke", "/register"),
    query: fc.constant(""),
    headers: fc.record({ type: fc.constantFrom(FORM, "application/json"), auth: authorization }).map(({ type, auth }) => ({ "Content-Type": type, ...(lazy(auth) ? { Authorization: lazy(auth) } : {}) })),
    body: fc.oneof(fc.array(fc.tuple(fc.constantFrom("grant_type", "client_id", "client_secret", "code", "code_verifier", "redirect_uri", "refresh_token", "token", "token_type_hint", "resource", "scope", "assertion", "client_assertion", "client_assertion_type", "redirect_uris", "__proto__"), fc.oneof(weirdValue, fc.constantFrom("authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:jwt-bearer", REDIRECT), fc.constant(w.clientId), fc.constant(w.accessToken))), { maxLength: 10 }).map((pairs) => new URLSearchParams(pairs).toString()), body),
  });
  const anyShape = fc.record({ method, path: pathOf, query, headers, body });
  return fc.oneof({ weight: 4, arbitrary: anyShape }, { weight: 2, arbitrary: mcpShape }, { weight: 2, arbitrary: pageShape }, { weight: 1, arbitrary: oauthShape }).map(({ method, path: p, query: q, headers: h, body: b }): Shape => {
    const bodyless = method === "GET" || method === "HEAD";
    const headersOut = { ...h };
    const sent = bodyless && b !== undefined && b !== "" ? undefined : b;
    return { method, target: `${p}${q}`, headers: headersOut, body: sent, label: `${method} ${p}${q.slice(0, 80)} ${JSON.stringify(headersOut).slice(0, 200)} body=${sent === undefined ? "none" : String(sent).slice(0, 60)}` };
  });
}

describe("generative battery: routes × methods × headers × bodies (decision 029)", () => {
  it("no 5xx, no stack trace, no error in the log", async () => {
    const templates = await routeTemplates();
    // Every page route and every protocol route is in the set the battery draws from.
    expect(templates).toEqual(expect.arrayContaining(["/authorize", "/sign-in", "/servers/:serverId/tools/:toolId", "/token", "/register", "/revoke", "/mcp/:param", "/healthz"]));
    const runs = Number(process.env.TOOLGATE_FC_RUNS ?? 2000);
    const seed = process.env.TOOLGATE_FC_SEED ? Number(process.env.TOOLGATE_FC_SEED) : undefined;
    let tried = 0;
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(shapes(templates), async (shape) => {
        const res = await send(shape.method, shape.target, shape.headers, shape.body);
        tried++;
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        expectNo5xx(res, shape.label);
      }),
      { numRuns: runs, seed, endOnFailure: true },
    );
    console.log(`generative battery: ${tried} requests over ${templates.length} routes; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`);
    expect((await send("GET", "/healthz")).status).toBe(200);
    expect(errorLines()).toEqual([]);
    expect(app.output()).not.toMatch(STACK);
  }, 240_000);
});
