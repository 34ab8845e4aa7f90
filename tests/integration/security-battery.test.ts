/**
 * The hostile-input battery (issue 7): several hundred named cases over real HTTP against the built
 * app (`toolgate serve` as a child process), across every endpoint a stranger can reach. Each case
 * asserts its exact status (and OAuth error or page message), that nothing answers 5xx, that no
 * answer carries a stack trace or a file path, and at the end that no secret used here (tokens,
 * codes, client secrets, passwords, cookies, CSRF tokens) appears in the server's logs.
 * SECURITY.md quotes the figures this file prints (cases tried, 5xx seen).
 */
import { createHash, randomBytes } from "node:crypto";
import nodeHttp from "node:http";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUser, PASSWORD, startApp, type AppUnderTest } from "../e2e/fixtures";

type Res = { status: number; text: string; headers: Headers };
type Expect = {
  status: number;
  /** OAuth error code in the JSON body. */
  error?: string;
  /** Text the body must contain. */
  contains?: string;
  /** Extra assertions. */
  check?: (res: Res) => void;
};
type Case = { name: string; run: () => Promise<Res>; expect: Expect };

let app: AppUnderTest & { stop(): Promise<void> };
let db: Database.Database;
const secrets = new Set<string>();
const results = { tried: 0, fiveHundreds: 0 };

const REDIRECT = "https://client.example.test/callback";
const LOOPBACK = "http://127.0.0.1/callback";

// The world, filled in beforeAll.
const w = {
  cookieA: "",
  cookieB: "",
  csrfA: "",
  csrfB: "",
  serverA: "",
  serverB: "",
  toolA: "",
  toolB: "",
  resourceA: "",
  resourceB: "",
  clientA: "",
  clientB: "",
  confidential: "",
  confidentialSecret: "",
  markupClient: "",
  emailA: "",
  userA: "",
  userB: "",
  revokeCsrfB: "",
};

function remember<T extends string>(value: T): T {
  if (value) secrets.add(value);
  return value;
}

async function http(method: string, p: string, init: { headers?: Record<string, string>; body?: string | URLSearchParams; cookie?: string } = {}): Promise<Res> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.cookie) headers.Cookie = init.cookie;
  const res = await fetch(app.url + p, { method, headers, body: init.body, redirect: "manual" });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

function form(fields: Record<string, string | string[]> | [string, string][]): URLSearchParams {
  const body = new URLSearchParams();
  const entries = Array.isArray(fields) ? fields : Object.entries(fields).flatMap(([k, v]) => (Array.isArray(v) ? v.map((i) => [k, i] as [string, string]) : [[k, v] as [string, string]]));
  for (const [k, v] of entries) body.append(k, v);
  return body;
}

const FORM = { "Content-Type": "application/x-www-form-urlencoded" };
const JSON_TYPE = { "Content-Type": "application/json" };
const postForm = (p: string, fields: Record<string, string | string[]> | [string, string][], headers: Record<string, string> = {}, cookie?: string) =>
  http("POST", p, { headers: { ...FORM, ...headers }, body: form(fields), cookie });
const postJson = (p: string, body: unknown, headers: Record<string, string> = {}) =>
  http("POST", p, { headers: { ...JSON_TYPE, ...headers }, body: typeof body === "string" ? body : JSON.stringify(body) });

/** The last csrf field of a page (the header's sign-out form comes first; page forms follow). */
function csrfOf(html: string): string {
  const all = [...html.matchAll(/name="csrf" value="([^"]+)"/g)];
  if (all.length === 0) throw new Error("no csrf field in page");
  return remember(all.at(-1)![1]!);
}

function cookieOf(res: Res): string {
  const set = res.headers.get("set-cookie");
  if (!set) throw new Error("no Set-Cookie");
  return remember(set.split(";")[0]!);
}

async function signIn(email: string): Promise<string> {
  const page = await http("GET", "/sign-in");
  const preCookie = cookieOf(page);
  const res = await postForm("/sign-in", { csrf: csrfOf(page.text), returnTo: "/", email, password: PASSWORD }, {}, preCookie);
  expect(res.status).toBe(302);
  return cookieOf(res);
}

function pkce() {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

async function register(metadata: Record<string, unknown>) {
  const res = await postJson("/register", metadata);
  expect(res.status).toBe(201);
  const body = JSON.parse(res.text) as { client_id: string; client_secret?: string };
  if (body.client_secret) remember(body.client_secret);
  return body;
}

function authorizeQuery(params: Record<string, string | string[] | undefined>) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    for (const item of Array.isArray(v) ? v : [v]) q.append(k, item);
  }
  return `/authorize?${q}`;
}

function validAuthorize(extra: Record<string, string | string[] | undefined> = {}, challenge = pkce().challenge) {
  return {
    response_type: "code",
    client_id: w.clientA,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state: "st-1",
    scope: "mcp:tools",
    resource: w.resourceA,
    ...extra,
  };
}

/** GET /authorize as user A: the stored request's id (302 to the consent page). */
async function startRequest(extra: Record<string, string | string[] | undefined> = {}, challenge?: string, cookie = w.cookieA) {
  const res = await http("GET", authorizeQuery(validAuthorize(extra, challenge)), { cookie });
  expect(res.status, res.text).toBe(302);
  return new URL(res.headers.get("location")!, app.url).searchParams.get("request")!;
}

/** A full consent flow for client A on server A: the code and its verifier. */
async function obtainCode(clientId = w.clientA, redirectUri = REDIRECT) {
  const { verifier, challenge } = pkce();
  const requestId = await startRequest({ client_id: clientId, redirect_uri: redirectUri }, challenge);
  const page = await http("GET", `/authorize?request=${requestId}`, { cookie: w.cookieA });
  const csrf = csrfOf(page.text);
  const res = await postForm("/authorize", [["csrf", csrf], ["request", requestId], ["tool", w.toolA], ["intent", "approve"]], { Origin: app.url }, w.cookieA);
  expect(res.status, res.text).toBe(303);
  const code = remember(new URL(res.headers.get("location")!).searchParams.get("code")!);
  return { code, verifier: remember(verifier) };
}

async function tokens(clientId = w.clientA) {
  const { code, verifier } = await obtainCode(clientId);
  const res = await postForm("/token", { grant_type: "authorization_code", client_id: clientId, code, code_verifier: verifier, redirect_uri: REDIRECT });
  expect(res.status, res.text).toBe(200);
  const body = JSON.parse(res.text) as { access_token: string; refresh_token: string };
  remember(body.access_token);
  remember(body.refresh_token);
  return body;
}

const tokenFields = (extra: Record<string, string | string[]>) => ({ grant_type: "authorization_code", client_id: w.clientA, redirect_uri: REDIRECT, ...extra });
const mcpInit = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } } });
const mcpHeaders = (token?: string) => ({ "Content-Type": "application/json", Accept: "application/json, text/event-stream", ...(token ? { Authorization: `Bearer ${token}` } : {}) });

function oauth(status: number, error: string): Expect {
  return { status, error };
}

// ---------------------------------------------------------------------------------------------
// The cases. Each group is a table; names say what is sent.
// ---------------------------------------------------------------------------------------------
const cases: Case[] = [];
const add = (name: string, run: () => Promise<Res>, e: Expect) => cases.push({ name, run, expect: e });

// /register --------------------------------------------------------------------------------------
const goodMeta = () => ({ client_name: "Battery", redirect_uris: [REDIRECT], token_endpoint_auth_method: "none" });
const registerCases: [string, unknown, Expect][] = [
  ["not JSON", "{not json", oauth(400, "invalid_client_metadata")],
  ["JSON array", "[]", oauth(400, "invalid_client_metadata")],
  ["JSON null", "null", oauth(400, "invalid_client_metadata")],
  ["JSON string", '"x"', oauth(400, "invalid_client_metadata")],
  ["empty body", "", oauth(400, "invalid_client_metadata")],
  ["redirect_uris missing", { client_name: "x" }, oauth(400, "invalid_redirect_uri")],
  ["redirect_uris empty", { redirect_uris: [] }, oauth(400, "invalid_redirect_uri")],
  ["redirect_uris a string", { redirect_uris: REDIRECT }, oauth(400, "invalid_redirect_uri")],
  ["redirect_uris number", { redirect_uris: 5 }, oauth(400, "invalid_redirect_uri")],
  ["redirect_uri http non-loopback", { redirect_uris: ["http://client.example.test/cb"] }, oauth(400, "invalid_redirect_uri")],
  ["redirect_uri with fragment", { redirect_uris: ["https://client.example.test/cb#x"] }, oauth(400, "invalid_redirect_uri")],
  ["redirect_uri javascript:", { redirect_uris: ["javascript:alert(1)"] }, oauth(400, "invalid_redirect_uri")],
  ["redirect_uri data:", { redirect_uris: ["data:text/html,<script>alert(1)</script>"] }, oauth(400, "invalid_redirect_uri")],
  ["redirect_uri relative", { redirect_uris: ["/callback"] }, oauth(400, "invalid_redirect_uri")],
  ["redirect_uri with userinfo", { redirect_uris: ["https://user:pw@client.example.test/cb"] }, oauth(400, "invalid_redirect_uri")],
  ["redirect_uri overlong", { redirect_uris: [`https://client.example.test/${"a".repeat(5000)}`] }, oauth(400, "invalid_redirect_uri")],
  ["redirect_uri with control char", { redirect_uris: ["https://client.example.test/c\u0000b"] }, oauth(400, "invalid_redirect_uri")],
  ["client_name number", { ...goodMeta(), client_name: 42 }, oauth(400, "invalid_client_metadata")],
  ["client_name overlong", { ...goodMeta(), client_name: "n".repeat(5000) }, oauth(400, "invalid_client_metadata")],
  ["client_name control chars", { ...goodMeta(), client_name: "evil\u0007\u001b[31m" }, oauth(400, "invalid_client_metadata")],
  ["client_name newline", { ...goodMeta(), client_name: "line1\nline2" }, oauth(400, "invalid_client_metadata")],
  ["logo_uri javascript:", { ...goodMeta(), logo_uri: "javascript:alert(1)" }, oauth(400, "invalid_client_metadata")],
  ["logo_uri http", { ...goodMeta(), logo_uri: "http://evil.example/x.png" }, oauth(400, "invalid_client_metadata")],
  ["logo_uri data:", { ...goodMeta(), logo_uri: "data:image/svg+xml,<svg onload=alert(1)>" }, oauth(400, "invalid_client_metadata")],
  ["client_uri javascript:", { ...goodMeta(), client_uri: "javascript:alert(1)" }, oauth(400, "invalid_client_metadata")],
  ["token_endpoint_auth_method unknown", { ...goodMeta(), token_endpoint_auth_method: "private_key_jwt" }, oauth(400, "invalid_client_metadata")],
  ["token_endpoint_auth_method number", { ...goodMeta(), token_endpoint_auth_method: 1 }, oauth(400, "invalid_client_metadata")],
  ["grant_types implicit", { ...goodMeta(), grant_types: ["implicit"] }, oauth(400, "invalid_client_metadata")],
  ["grant_types password", { ...goodMeta(), grant_types: ["password"] }, oauth(400, "invalid_client_metadata")],
  ["grant_types a string", { ...goodMeta(), grant_types: "authorization_code" }, oauth(400, "invalid_client_metadata")],
  ["response_types token", { ...goodMeta(), response_types: ["token"] }, oauth(400, "invalid_client_metadata")],
  ["client_id chosen by the client ignored", { ...goodMeta(), client_id: "chosen-id" }, { status: 201, check: (r) => expect(JSON.parse(r.text).client_id).not.toBe("chosen-id") }],
  ["client_secret chosen by the client ignored", { ...goodMeta(), token_endpoint_auth_method: "client_secret_basic", client_secret: "chosen-secret" }, { status: 201, check: (r) => expect(JSON.parse(r.text).client_secret).not.toBe("chosen-secret") }],
  ["__proto__ key", JSON.stringify({ ...goodMeta(), __proto__: { admin: true } }).replace('"client_name"', '"__proto__":{"admin":true},"client_name"'), { status: 201, check: (r) => expect(JSON.parse(r.text).admin).toBeUndefined() }],
  ["markup in client_name accepted as text", { ...goodMeta(), client_name: "<b>Bold</b>" }, { status: 201 }],
];
for (const [name, body, e] of registerCases) add(`/register: ${name}`, () => postJson("/register", body), e);
add("/register: form-encoded body", () => postForm("/register", { redirect_uris: REDIRECT }), oauth(400, "invalid_client_metadata"));
add("/register: text/plain body", () => http("POST", "/register", { headers: { "Content-Type": "text/plain" }, body: JSON.stringify(goodMeta()) }), oauth(400, "invalid_client_metadata"));
add("/register: body over 64 KB", () => postJson("/register", { ...goodMeta(), client_name: "x", pad: "p".repeat(70_000) }), { status: 413 });
add("/register: GET", () => http("GET", "/register"), oauth(405, "invalid_request"));
add("/register: PUT", () => http("PUT", "/register", { headers: JSON_TYPE, body: JSON.stringify(goodMeta()) }), oauth(405, "invalid_request"));
add("/register: DELETE", () => http("DELETE", "/register"), oauth(405, "invalid_request"));

// /token -----------------------------------------------------------------------------------------
const fakeCode = "tgc_" + "A".repeat(43);
const tokenTable: [string, () => Promise<Record<string, string | string[]> | [string, string][]>, Expect][] = [
  ["no fields", async () => ({}), oauth(400, "invalid_request")],
  ["grant_type missing", async () => ({ client_id: w.clientA, code: fakeCode }), oauth(400, "invalid_request")],
  ["grant_type empty", async () => ({ grant_type: "", client_id: w.clientA }), oauth(400, "invalid_request")],
  ["grant_type password", async () => ({ grant_type: "password", client_id: w.clientA, username: "a", password: "b" }), oauth(400, "unsupported_grant_type")],
  ["grant_type client_credentials by a client that is not a machine client", async () => ({ grant_type: "client_credentials", client_id: w.clientA }), oauth(400, "unauthorized_client")],
  ["grant_type implicit", async () => ({ grant_type: "implicit", client_id: w.clientA }), oauth(400, "unsupported_grant_type")],
  ["grant_type overlong", async () => ({ grant_type: "g".repeat(10_000), client_id: w.clientA }), oauth(400, "unsupported_grant_type")],
  ["grant_type repeated", async () => [["grant_type", "authorization_code"], ["grant_type", "authorization_code"], ["client_id", w.clientA]], oauth(400, "invalid_request")],
  ["client_id repeated", async () => [["grant_type", "authorization_code"], ["client_id", w.clientA], ["client_id", w.clientB], ["code", fakeCode]], oauth(400, "invalid_request")],
  ["code repeated", async () => { const c = await obtainCode(); return [["grant_type", "authorization_code"], ["client_id", w.clientA], ["code", c.code], ["code", c.code], ["code_verifier", c.verifier], ["redirect_uri", REDIRECT]]; }, oauth(400, "invalid_request")],
  ["code_verifier repeated", async () => { const c = await obtainCode(); return [["grant_type", "authorization_code"], ["client_id", w.clientA], ["code", c.code], ["code_verifier", c.verifier], ["code_verifier", c.verifier], ["redirect_uri", REDIRECT]]; }, oauth(400, "invalid_request")],
  ["client_id missing", async () => ({ grant_type: "authorization_code", code: fakeCode, code_verifier: pkce().verifier }), oauth(400, "invalid_request")],
  ["client_id unknown", async () => tokenFields({ client_id: "no-such-client", code: fakeCode, code_verifier: pkce().verifier }), oauth(401, "invalid_client")],
  ["client_id overlong", async () => tokenFields({ client_id: "c".repeat(5000), code: fakeCode, code_verifier: pkce().verifier }), oauth(401, "invalid_client")],
  ["client_id with control chars", async () => tokenFields({ client_id: "a\u0000b", code: fakeCode, code_verifier: pkce().verifier }), oauth(401, "invalid_client")],
  ["code missing", async () => tokenFields({ code_verifier: pkce().verifier }), oauth(400, "invalid_request")],
  ["code empty", async () => tokenFields({ code: "", code_verifier: pkce().verifier }), oauth(400, "invalid_request")],
  ["code unknown", async () => tokenFields({ code: fakeCode, code_verifier: pkce().verifier }), oauth(400, "invalid_grant")],
  ["code overlong (body over 16 KB)", async () => tokenFields({ code: "tgc_" + "x".repeat(20_000), code_verifier: pkce().verifier }), oauth(413, "invalid_request")],
  ["code long but within the body limit", async () => tokenFields({ code: "tgc_" + "x".repeat(5000), code_verifier: pkce().verifier }), oauth(400, "invalid_grant")],
  ["code with unicode", async () => tokenFields({ code: "tgc_\u202eé漢字", code_verifier: pkce().verifier }), oauth(400, "invalid_grant")],
  ["PKCE: code_verifier missing", async () => { const c = await obtainCode(); return tokenFields({ code: c.code }); }, oauth(400, "invalid_request")],
  ["PKCE: code_verifier empty", async () => { const c = await obtainCode(); return tokenFields({ code: c.code, code_verifier: "" }); }, oauth(400, "invalid_request")],
  ["PKCE: wrong verifier", async () => { const c = await obtainCode(); return tokenFields({ code: c.code, code_verifier: pkce().verifier }); }, oauth(400, "invalid_grant")],
  ["PKCE: verifier too short", async () => { const c = await obtainCode(); return tokenFields({ code: c.code, code_verifier: "short" }); }, oauth(400, "invalid_request")],
  ["PKCE: verifier too long", async () => { const c = await obtainCode(); return tokenFields({ code: c.code, code_verifier: "v".repeat(129) }); }, oauth(400, "invalid_request")],
  ["PKCE: verifier with bad characters", async () => { const c = await obtainCode(); return tokenFields({ code: c.code, code_verifier: "!".repeat(43) }); }, oauth(400, "invalid_request")],
  ["PKCE: the challenge sent as verifier (plain downgrade)", async () => { const p = pkce(); const id = await startRequest({}, p.challenge); void id; const c = await obtainCode(); return tokenFields({ code: c.code, code_verifier: createHash("sha256").update(c.verifier).digest("base64url") }); }, oauth(400, "invalid_grant")],
  ["code used by another client", async () => { const c = await obtainCode(); return tokenFields({ client_id: w.clientB, code: c.code, code_verifier: c.verifier }); }, oauth(400, "invalid_grant")],
  ["code with another redirect_uri", async () => { const c = await obtainCode(); return tokenFields({ code: c.code, code_verifier: c.verifier, redirect_uri: "https://client.example.test/other" }); }, oauth(400, "invalid_grant")],
  ["code with redirect_uri trailing slash", async () => { const c = await obtainCode(); return tokenFields({ code: c.code, code_verifier: c.verifier, redirect_uri: REDIRECT + "/" }); }, oauth(400, "invalid_grant")],
  ["code without redirect_uri it was issued with", async () => { const c = await obtainCode(); return { grant_type: "authorization_code", client_id: w.clientA, code: c.code, code_verifier: c.verifier }; }, oauth(400, "invalid_request")],
  ["code after expiry", async () => { const c = await obtainCode(); db.prepare("UPDATE authorization_codes SET expires_at = 0 WHERE client_id = ? AND used_at IS NULL").run(w.clientA); return tokenFields({ code: c.code, code_verifier: c.verifier }); }, oauth(400, "invalid_grant")],
  ["code twice", async () => { const c = await obtainCode(); const first = await postForm("/token", tokenFields({ code: c.code, code_verifier: c.verifier })); expect(first.status).toBe(200); const t = JSON.parse(first.text) as { access_token: string; refresh_token: string }; remember(t.access_token); remember(t.refresh_token); return tokenFields({ code: c.code, code_verifier: c.verifier }); }, oauth(400, "invalid_grant")],
  ["code for resource of another server", async () => { const c = await obtainCode(); return tokenFields({ code: c.code, code_verifier: c.verifier, resource: w.resourceB }); }, oauth(400, "invalid_target")],
  ["code with a foreign resource URL", async () => { const c = await obtainCode(); return tokenFields({ code: c.code, code_verifier: c.verifier, resource: "https://evil.example/mcp" }); }, oauth(400, "invalid_target")],
  ["code with a scope parameter beyond the grant gets only the granted scope", async () => { const c = await obtainCode(); return tokenFields({ code: c.code, code_verifier: c.verifier, scope: "mcp:tools admin" }); }, { status: 200, check: (r) => { const t = JSON.parse(r.text) as { scope: string; access_token: string; refresh_token: string }; remember(t.access_token); remember(t.refresh_token); expect(t.scope).toBe("mcp:tools"); } }],
  ["refresh_token missing", async () => ({ grant_type: "refresh_token", client_id: w.clientA }), oauth(400, "invalid_request")],
  ["refresh_token unknown", async () => ({ grant_type: "refresh_token", client_id: w.clientA, refresh_token: "tgr_" + "B".repeat(43) }), oauth(400, "invalid_grant")],
  ["refresh_token of another client", async () => { const t = await tokens(); return { grant_type: "refresh_token", client_id: w.clientB, refresh_token: t.refresh_token }; }, oauth(400, "invalid_grant")],
  ["refresh_token repeated", async () => [["grant_type", "refresh_token"], ["client_id", w.clientA], ["refresh_token", "tgr_x"], ["refresh_token", "tgr_y"]], oauth(400, "invalid_request")],
  ["access token used as refresh token", async () => { const t = await tokens(); return { grant_type: "refresh_token", client_id: w.clientA, refresh_token: t.access_token }; }, oauth(400, "invalid_grant")],
  ["refresh with a wider scope", async () => { const t = await tokens(); return { grant_type: "refresh_token", client_id: w.clientA, refresh_token: t.refresh_token, scope: "mcp:tools mcp:admin" }; }, oauth(400, "invalid_scope")],
  ["confidential client without secret", async () => ({ grant_type: "refresh_token", client_id: w.confidential, refresh_token: "tgr_x" }), oauth(401, "invalid_client")],
  ["confidential client with wrong secret (post)", async () => ({ grant_type: "refresh_token", client_id: w.confidential, client_secret: "wrong", refresh_token: "tgr_x" }), oauth(401, "invalid_client")],
  ["public client sending a secret", async () => ({ grant_type: "refresh_token", client_id: w.clientA, client_secret: "anything", refresh_token: "tgr_x" }), oauth(401, "invalid_client")],
];
for (const [name, fields, e] of tokenTable) add(`/token: ${name}`, async () => postForm("/token", await fields()), e);
const basicAuth = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}`;
add("/token: Basic with wrong secret", () => postForm("/token", { grant_type: "refresh_token", refresh_token: "tgr_x" }, { Authorization: basicAuth(w.confidential, "wrong") }), { status: 401, error: "invalid_client", check: (r) => expect(r.headers.get("www-authenticate")).toMatch(/^Basic/) });
add("/token: Basic not base64", () => postForm("/token", { grant_type: "refresh_token", refresh_token: "tgr_x" }, { Authorization: "Basic !!!" }), oauth(401, "invalid_client"));
add("/token: Basic without colon", () => postForm("/token", { grant_type: "refresh_token", refresh_token: "tgr_x" }, { Authorization: `Basic ${Buffer.from("nocolon").toString("base64")}` }), oauth(401, "invalid_client"));
add("/token: Basic and body credentials both", () => postForm("/token", { grant_type: "refresh_token", refresh_token: "tgr_x", client_id: w.confidential, client_secret: w.confidentialSecret }, { Authorization: basicAuth(w.confidential, w.confidentialSecret) }), oauth(400, "invalid_request"));
add("/token: Basic client_id different from body", () => postForm("/token", { grant_type: "refresh_token", refresh_token: "tgr_x", client_id: w.clientA }, { Authorization: basicAuth(w.confidential, w.confidentialSecret) }), oauth(400, "invalid_request"));
add("/token: JSON body", () => postJson("/token", { grant_type: "authorization_code" }), oauth(400, "invalid_request"));
add("/token: no content type", () => http("POST", "/token", { body: "grant_type=authorization_code" }), oauth(400, "invalid_request"));
add("/token: body over the limit", () => postForm("/token", { grant_type: "authorization_code", pad: "p".repeat(40_000) }), { status: 413 });
add("/token: GET", () => http("GET", "/token?grant_type=authorization_code"), oauth(405, "invalid_request"));
add("/token: parameters in the query string only", () => http("POST", `/token?grant_type=authorization_code&client_id=${"x"}`, { headers: FORM, body: "" }), oauth(400, "invalid_request"));
add("/token: malformed percent-encoding (decoded leniently, then refused)", () => http("POST", "/token", { headers: FORM, body: "grant_type=%E0%A4%A&client_id=%ZZ" }), oauth(400, "unsupported_grant_type"));

// /revoke ----------------------------------------------------------------------------------------
add("/revoke: token missing", () => postForm("/revoke", { client_id: w.clientA }), oauth(400, "invalid_request"));
add("/revoke: token repeated", () => postForm("/revoke", [["client_id", w.clientA], ["token", "a"], ["token", "b"]]), oauth(400, "invalid_request"));
add("/revoke: client_id missing", () => postForm("/revoke", { token: "tga_x" }), oauth(400, "invalid_request"));
add("/revoke: unknown client", () => postForm("/revoke", { client_id: "nope", token: "tga_x" }), oauth(401, "invalid_client"));
add("/revoke: unknown token answers 200 (RFC 7009 §2.2)", () => postForm("/revoke", { client_id: w.clientA, token: "tga_unknown" }), { status: 200 });
// RFC 7009 §2.1: the hint is only a hint; an unknown one is ignored.
add("/revoke: unknown token_type_hint is ignored", () => postForm("/revoke", { client_id: w.clientA, token: "tga_unknown", token_type_hint: "id_token" }), { status: 200 });
add("/revoke: another client's token is not revoked", async () => {
  const t = await tokens();
  const res = await postForm("/revoke", { client_id: w.clientB, token: t.access_token });
  const after = await http("POST", `/mcp/${w.serverA}`, { headers: mcpHeaders(t.access_token), body: mcpInit });
  expect(after.status).toBe(200);
  return res;
}, { status: 200 });
add("/revoke: confidential client without secret", () => postForm("/revoke", { client_id: w.confidential, token: "tga_x" }), oauth(401, "invalid_client"));
add("/revoke: GET", () => http("GET", "/revoke"), oauth(405, "invalid_request"));
add("/revoke: JSON body", () => postJson("/revoke", { token: "x" }), oauth(400, "invalid_request"));

// Discovery documents -----------------------------------------------------------------------------
for (const p of ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"]) {
  add(`discovery: GET ${p}`, () => http("GET", p), { status: p.includes("openid") ? 404 : 200, check: (r) => { if (r.status === 200) expect(JSON.parse(r.text).code_challenge_methods_supported).toEqual(["S256"]); } });
}
add("discovery: protected resource for server A", () => http("GET", `/.well-known/oauth-protected-resource/mcp/${w.serverA}`), { status: 200, check: (r) => expect(JSON.parse(r.text).resource).toBe(w.resourceA) });
add("discovery: protected resource for unknown server", () => http("GET", "/.well-known/oauth-protected-resource/mcp/no-such-server"), { status: 404 });
add("discovery: protected resource with path traversal", () => http("GET", "/.well-known/oauth-protected-resource/mcp/..%2F..%2Fetc%2Fpasswd"), { status: 404 });
add("discovery: protected resource with overlong id", () => http("GET", `/.well-known/oauth-protected-resource/mcp/${"x".repeat(5000)}`), { status: 404 });
add("discovery: POST to metadata", () => http("POST", "/.well-known/oauth-authorization-server"), { status: 405 });
add("discovery: Host header cannot change the issuer", () => http("GET", "/.well-known/oauth-authorization-server", { headers: { Host: "evil.example", "X-Forwarded-Host": "evil.example" } }), { status: 200, check: (r) => expect(JSON.parse(r.text).issuer).toBe(app.url) });

// /mcp/<id> ----------------------------------------------------------------------------------------
const mcpCases: [string, () => Promise<Res>, Expect][] = [
  ["no Authorization", () => http("POST", `/mcp/${w.serverA}`, { headers: mcpHeaders(), body: mcpInit }), { status: 401, check: (r) => expect(r.headers.get("www-authenticate")).toContain("resource_metadata=") }],
  ["Bearer empty", () => http("POST", `/mcp/${w.serverA}`, { headers: { ...mcpHeaders(), Authorization: "Bearer " }, body: mcpInit }), { status: 401 }],
  ["Basic scheme", () => http("POST", `/mcp/${w.serverA}`, { headers: { ...mcpHeaders(), Authorization: "Basic eDp5" }, body: mcpInit }), { status: 401 }],
  ["unknown token", () => http("POST", `/mcp/${w.serverA}`, { headers: mcpHeaders("tga_" + "C".repeat(43)), body: mcpInit }), { status: 401, check: (r) => expect(r.headers.get("www-authenticate")).toContain('error="invalid_token"') }],
  ["refresh token as bearer", async () => { const t = await tokens(); return http("POST", `/mcp/${w.serverA}`, { headers: mcpHeaders(t.refresh_token), body: mcpInit }); }, { status: 401 }],
  ["token for another server", async () => { const t = await tokens(); return http("POST", `/mcp/${w.serverB}`, { headers: mcpHeaders(t.access_token), body: mcpInit }); }, { status: 401, check: (r) => expect(r.headers.get("www-authenticate")).toContain('error="invalid_token"') }],
  ["token in the query string", async () => { const t = await tokens(); return http("POST", `/mcp/${w.serverA}?access_token=${t.access_token}`, { headers: mcpHeaders(), body: mcpInit }); }, { status: 401 }],
  ["unknown server id", async () => { const t = await tokens(); return http("POST", "/mcp/no-such-server", { headers: mcpHeaders(t.access_token), body: mcpInit }); }, { status: 404 }],
  // Not an MCP path, so it is a page request, and a JSON body is no form.
  ["server id with traversal", () => http("POST", "/mcp/..%2Fadmin", { headers: mcpHeaders(), body: mcpInit }), { status: 415 }],
  ["plain-http foreign Origin (DNS rebinding)", async () => { const t = await tokens(); return http("POST", `/mcp/${w.serverA}`, { headers: { ...mcpHeaders(t.access_token), Origin: "http://evil.example" }, body: mcpInit }); }, { status: 403 }],
  ["Origin null", async () => { const t = await tokens(); return http("POST", `/mcp/${w.serverA}`, { headers: { ...mcpHeaders(t.access_token), Origin: "null" }, body: mcpInit }); }, { status: 403 }],
  ["Origin with a path", async () => { const t = await tokens(); return http("POST", `/mcp/${w.serverA}`, { headers: { ...mcpHeaders(t.access_token), Origin: "https://evil.example/x" }, body: mcpInit }); }, { status: 403 }],
  ["revoked token", async () => { const t = await tokens(); await postForm("/revoke", { client_id: w.clientA, token: t.access_token }); return http("POST", `/mcp/${w.serverA}`, { headers: mcpHeaders(t.access_token), body: mcpInit }); }, { status: 401 }],
  ["invalid JSON body", async () => { const t = await tokens(); return http("POST", `/mcp/${w.serverA}`, { headers: mcpHeaders(t.access_token), body: "{nope" }); }, { status: 400 }],
  ["token of a user without this server (resource swap)", async () => { const t = await tokens(); return http("POST", `/mcp/${w.serverB}`, { headers: mcpHeaders(t.access_token), body: mcpInit }); }, { status: 401 }],
];
for (const [name, run, e] of mcpCases) add(`/mcp: ${name}`, run, e);

// GET /authorize: errors before the client and redirect URI are verified stay on our page ----------
const noRedirect = (status: number, contains?: string): Expect => ({ status, contains, check: (r) => expect(r.headers.get("location")).toBeNull() });
const authorizeGet: [string, () => Record<string, string | string[] | undefined>, Expect][] = [
  ["client_id missing", () => validAuthorize({ client_id: undefined }), noRedirect(400)],
  ["client_id unknown", () => validAuthorize({ client_id: "no-such-client" }), noRedirect(400)],
  ["client_id repeated", () => validAuthorize({ client_id: [w.clientA, w.clientA] }), noRedirect(400)],
  ["client_id overlong", () => validAuthorize({ client_id: "c".repeat(3000) }), noRedirect(400)],
  ["redirect_uri unregistered", () => validAuthorize({ redirect_uri: "https://evil.example/callback" }), noRedirect(400)],
  ["redirect_uri repeated", () => validAuthorize({ redirect_uri: [REDIRECT, REDIRECT] }), noRedirect(400)],
  ["redirect_uri case changed in host", () => validAuthorize({ redirect_uri: "https://CLIENT.example.test/callback" }), noRedirect(400)],
  ["redirect_uri case changed in path", () => validAuthorize({ redirect_uri: "https://client.example.test/Callback" }), noRedirect(400)],
  ["redirect_uri trailing slash", () => validAuthorize({ redirect_uri: REDIRECT + "/" }), noRedirect(400)],
  ["redirect_uri extra query", () => validAuthorize({ redirect_uri: REDIRECT + "?next=https://evil.example" }), noRedirect(400)],
  ["redirect_uri with fragment", () => validAuthorize({ redirect_uri: REDIRECT + "#x" }), noRedirect(400)],
  ["redirect_uri with userinfo", () => validAuthorize({ redirect_uri: "https://evil.example@client.example.test/callback" }), noRedirect(400)],
  ["redirect_uri other port on a non-loopback host", () => validAuthorize({ redirect_uri: "https://client.example.test:8443/callback" }), noRedirect(400)],
  ["redirect_uri http instead of https", () => validAuthorize({ redirect_uri: "http://client.example.test/callback" }), noRedirect(400)],
  ["redirect_uri localhost for registered 127.0.0.1", () => validAuthorize({ redirect_uri: "http://localhost/callback" }), noRedirect(400)],
  ["redirect_uri [::1] for registered 127.0.0.1", () => validAuthorize({ redirect_uri: "http://[::1]/callback" }), noRedirect(400)],
  ["redirect_uri loopback other path", () => validAuthorize({ redirect_uri: "http://127.0.0.1:5555/other" }), noRedirect(400)],
  ["redirect_uri percent-encoded path", () => validAuthorize({ redirect_uri: "https://client.example.test/%63allback" }), noRedirect(400)],
  ["redirect_uri encoded slash", () => validAuthorize({ redirect_uri: "https://client.example.test%2F@evil.example/callback" }), noRedirect(400)],
  ["redirect_uri dot segment", () => validAuthorize({ redirect_uri: "https://client.example.test/x/../callback" }), noRedirect(400)],
  ["redirect_uri sub-domain", () => validAuthorize({ redirect_uri: "https://evil.client.example.test/callback" }), noRedirect(400)],
  ["redirect_uri javascript:", () => validAuthorize({ redirect_uri: "javascript:alert(1)" }), noRedirect(400)],
  ["redirect_uri empty", () => validAuthorize({ redirect_uri: "" }), noRedirect(400)],
  ["redirect_uri of client B with client A", () => validAuthorize({ redirect_uri: "https://other.example.test/cb" }), noRedirect(400)],
];
for (const [name, params, e] of authorizeGet) add(`GET /authorize: ${name}`, () => http("GET", authorizeQuery(params()), { cookie: w.cookieA }), e);
add("GET /authorize: loopback with another port is allowed (RFC 8252 §7.3)", () => http("GET", authorizeQuery(validAuthorize({ redirect_uri: "http://127.0.0.1:5555/callback" })), { cookie: w.cookieA }), { status: 302 });

// Errors after the redirect URI is verified go back to the client with error and iss.
const toClient = (error: string): Expect => ({ status: 302, check: (r) => { const loc = new URL(r.headers.get("location")!); expect(loc.origin + loc.pathname).toBe(REDIRECT); expect(loc.searchParams.get("error")).toBe(error); expect(loc.searchParams.get("iss")).toBe(app.url); expect(loc.searchParams.get("state")).toBe("st-1"); } });
const authorizeRedirectErrors: [string, () => Record<string, string | string[] | undefined>, string][] = [
  ["response_type token", () => validAuthorize({ response_type: "token" }), "unsupported_response_type"],
  ["response_type missing", () => validAuthorize({ response_type: undefined }), "invalid_request"],
  ["response_type repeated", () => validAuthorize({ response_type: ["code", "code"] }), "invalid_request"],
  ["response_type code id_token", () => validAuthorize({ response_type: "code id_token" }), "unsupported_response_type"],
  ["PKCE: code_challenge missing", () => validAuthorize({ code_challenge: undefined }), "invalid_request"],
  ["PKCE: method plain", () => validAuthorize({ code_challenge_method: "plain" }), "invalid_request"],
  ["PKCE: method missing", () => validAuthorize({ code_challenge_method: undefined }), "invalid_request"],
  ["PKCE: method lower-case s256", () => validAuthorize({ code_challenge_method: "s256" }), "invalid_request"],
  ["PKCE: challenge too short", () => validAuthorize({ code_challenge: "abc" }), "invalid_request"],
  ["PKCE: challenge bad characters", () => validAuthorize({ code_challenge: "+".repeat(43) }), "invalid_request"],
  ["PKCE: challenge repeated", () => validAuthorize({ code_challenge: [pkce().challenge, pkce().challenge] }), "invalid_request"],
  ["scope unknown", () => validAuthorize({ scope: "admin" }), "invalid_scope"],
  ["scope repeated", () => validAuthorize({ scope: ["mcp:tools", "mcp:tools"] }), "invalid_request"],
  ["resource foreign", () => validAuthorize({ resource: "https://evil.example/mcp" }), "invalid_target"],
  ["resource with fragment", () => validAuthorize({ resource: `${w.resourceA}#x` }), "invalid_target"],
  ["resource relative", () => validAuthorize({ resource: "/mcp/x" }), "invalid_target"],
  ["state repeated", () => validAuthorize({ state: ["st-1", "st-2"] }), "invalid_request"],
  ["request object (unsupported)", () => validAuthorize({ request: "eyJhbGciOiJub25lIn0.e30." }), "request_not_supported"],
];
for (const [name, params, error] of authorizeRedirectErrors) add(`GET /authorize: ${name}`, () => http("GET", authorizeQuery(params()), { cookie: w.cookieA }), name.includes("state repeated") ? { status: 302, check: (r) => expect(new URL(r.headers.get("location")!).searchParams.get("error")).toBe("invalid_request") } : toClient(error));
add("GET /authorize: CRLF and markup in state are encoded in the redirect, no header injected", () => http("GET", authorizeQuery(validAuthorize({ state: "a\r\nX-Injected: 1\r\n<script>x</script>", response_type: "token" })), { cookie: w.cookieA }), { status: 302, check: (r) => { expect(r.headers.get("x-injected")).toBeNull(); const loc = r.headers.get("location")!; expect(loc).not.toMatch(/[\r\n<>]/); expect(new URL(loc).searchParams.get("state")).toBe("a\r\nX-Injected: 1\r\n<script>x</script>"); } });
add("GET /authorize: client_id with control characters", () => http("GET", authorizeQuery(validAuthorize({ client_id: "a\u0000b\u001b" })), { cookie: w.cookieA }), noRedirect(400));
add("GET /authorize: malformed percent-encoding in the query", () => http("GET", `/authorize?client_id=%ZZ&redirect_uri=%E0%A4%A`, { cookie: w.cookieA }), noRedirect(400));
add("/token: NUL in grant_type", () => postForm("/token", { grant_type: "authorization_code\u0000", client_id: w.clientA }), oauth(400, "unsupported_grant_type"));
add("/mcp: overlong Authorization header", () => http("POST", `/mcp/${w.serverA}`, { headers: mcpHeaders("tga_" + "x".repeat(8000)), body: mcpInit }), { status: 401 });
add("discovery: garbage query string is ignored", () => http("GET", "/.well-known/oauth-authorization-server?x=%ZZ&__proto__=1&issuer=https://evil.example"), { status: 200, check: (r) => expect(JSON.parse(r.text).issuer).toBe(app.url) });
add("GET /authorize: signed out is stored and sent to the local consent page", () => http("GET", authorizeQuery(validAuthorize())), { status: 302, check: (r) => expect(r.headers.get("location")).toMatch(/^\/authorize\?request=[\w-]+$/) });
add("GET /authorize: unknown request id", () => http("GET", "/authorize?request=no-such-request", { cookie: w.cookieA }), { status: 400 });
add("GET /authorize: another user's pending request", async () => { const id = await startRequest(); return http("GET", `/authorize?request=${id}`, { cookie: w.cookieB }); }, { status: 403 });
add("GET /authorize: consent page is not cacheable or frameable", async () => { const id = await startRequest(); return http("GET", `/authorize?request=${id}`, { cookie: w.cookieA }); }, { status: 200, check: (r) => { expect(r.headers.get("cache-control")).toContain("no-store"); expect(r.headers.get("content-security-policy")).toContain("frame-ancestors 'none'"); expect(r.headers.get("x-frame-options")).toBe("DENY"); } });

// Markup rendered inert on the consent page.
add("consent page: markup in client_name and logo_uri is escaped", async () => {
  const id = await startRequest({ client_id: w.markupClient });
  return http("GET", `/authorize?request=${id}`, { cookie: w.cookieA });
}, {
  status: 200,
  check: (r) => {
    expect(r.text).toContain("&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt;");
    expect(r.text).not.toContain('<script>alert("name")</script>');
    expect(r.text).not.toContain("<img src=x onerror");
    expect(r.text).not.toMatch(/<[^>]+\sonerror=/i);
  },
});
add("consent page: markup in a tool description is escaped", async () => {
  const id = await startRequest();
  return http("GET", `/authorize?request=${id}`, { cookie: w.cookieA });
}, { status: 200, check: (r) => { expect(r.text).toContain("&lt;img src=x onerror=alert(1)&gt;"); expect(r.text).not.toMatch(/<img[^>]+onerror/i); } });

// POST /authorize (Approve/Deny): CSRF, other users, tampering.
async function pendingFor(cookie = w.cookieA) {
  const id = await startRequest({}, undefined, cookie);
  const page = await http("GET", `/authorize?request=${id}`, { cookie });
  return { id, csrf: csrfOf(page.text) };
}
const consentPost: [string, () => Promise<Res>, Expect][] = [
  ["no csrf", async () => { const p = await pendingFor(); return postForm("/authorize", { request: p.id, intent: "approve", tool: w.toolA }, { Origin: app.url }, w.cookieA); }, { status: 403 }],
  ["csrf repeated", async () => { const p = await pendingFor(); return postForm("/authorize", [["csrf", p.csrf], ["csrf", p.csrf], ["request", p.id], ["intent", "approve"]], { Origin: app.url }, w.cookieA); }, { status: 403 }],
  ["csrf of another session", async () => { const p = await pendingFor(); const other = await pendingFor(w.cookieB); return postForm("/authorize", { csrf: other.csrf, request: p.id, intent: "approve", tool: w.toolA }, { Origin: app.url }, w.cookieA); }, { status: 403 }],
  ["csrf of another pending request", async () => { const p = await pendingFor(); const q = await pendingFor(); return postForm("/authorize", { csrf: q.csrf, request: p.id, intent: "approve", tool: w.toolA }, { Origin: app.url }, w.cookieA); }, { status: 403 }],
  ["cross-origin POST", async () => { const p = await pendingFor(); return postForm("/authorize", { csrf: p.csrf, request: p.id, intent: "approve", tool: w.toolA }, { Origin: "https://evil.example" }, w.cookieA); }, { status: 403 }],
  ["Origin null", async () => { const p = await pendingFor(); return postForm("/authorize", { csrf: p.csrf, request: p.id, intent: "approve", tool: w.toolA }, { Origin: "null" }, w.cookieA); }, { status: 403 }],
  ["no cookie", async () => { const p = await pendingFor(); return postForm("/authorize", { csrf: p.csrf, request: p.id, intent: "approve", tool: w.toolA }, { Origin: app.url }); }, { status: 401 }],
  ["another user approving A's request with their own csrf", async () => { const p = await pendingFor(); const other = await pendingFor(w.cookieB); return postForm("/authorize", { csrf: other.csrf, request: p.id, intent: "approve", tool: w.toolA }, { Origin: app.url }, w.cookieB); }, { status: 403 }],
  ["unknown request id", async () => { const p = await pendingFor(); return postForm("/authorize", { csrf: p.csrf, request: "no-such", intent: "approve" }, { Origin: app.url }, w.cookieA); }, { status: 403 }],
  ["another user's tool id", async () => { const p = await pendingFor(); return postForm("/authorize", [["csrf", p.csrf], ["request", p.id], ["intent", "approve"], ["tool", w.toolB]], { Origin: app.url }, w.cookieA); }, { status: 400 }],
  ["another user's server id is ignored: the code is for the requested server", async () => { const p = await pendingFor(); return postForm("/authorize", [["csrf", p.csrf], ["request", p.id], ["intent", "approve"], ["server", w.serverB], ["tool", w.toolA]], { Origin: app.url }, w.cookieA); }, { status: 303, check: (r) => { remember(new URL(r.headers.get("location")!).searchParams.get("code")!); expect(db.prepare("SELECT count(*) AS n FROM grants WHERE server_id = ? AND user_id != (SELECT owner_id FROM mcp_servers WHERE id = ?)").get(w.serverB, w.serverB)).toEqual({ n: 0 }); } }],
  ["unknown intent", async () => { const p = await pendingFor(); return postForm("/authorize", { csrf: p.csrf, request: p.id, intent: "escalate" }, { Origin: app.url }, w.cookieA); }, { status: 400 }],
  ["approve twice", async () => { const p = await pendingFor(); const f = [["csrf", p.csrf], ["request", p.id], ["intent", "approve"], ["tool", w.toolA]] as [string, string][]; const first = await postForm("/authorize", f, { Origin: app.url }, w.cookieA); expect(first.status).toBe(303); remember(new URL(first.headers.get("location")!).searchParams.get("code")!); return postForm("/authorize", f, { Origin: app.url }, w.cookieA); }, { status: 400 }],
  ["deny redirects with access_denied and iss", async () => { const p = await pendingFor(); return postForm("/authorize", { csrf: p.csrf, request: p.id, intent: "deny" }, { Origin: app.url }, w.cookieA); }, { status: 303, check: (r) => { const loc = new URL(r.headers.get("location")!); expect(loc.searchParams.get("error")).toBe("access_denied"); expect(loc.searchParams.get("iss")).toBe(app.url); expect(r.headers.get("cache-control")).toContain("no-store"); } }],
  ["approve answer carrying the code is not stored", async () => { const p = await pendingFor(); return postForm("/authorize", [["csrf", p.csrf], ["request", p.id], ["intent", "approve"], ["tool", w.toolA]], { Origin: app.url }, w.cookieA); }, { status: 303, check: (r) => { remember(new URL(r.headers.get("location")!).searchParams.get("code")!); expect(r.headers.get("cache-control")).toContain("no-store"); expect(r.headers.get("referrer-policy")).not.toBe("unsafe-url"); } }],
];
for (const [name, run, e] of consentPost) add(`POST /authorize: ${name}`, run, e);

// Sign-in: CSRF, session fixation, open redirects through returnTo ---------------------------------
async function signInPage(returnTo = "/") {
  const page = await http("GET", `/sign-in?returnTo=${encodeURIComponent(returnTo)}`);
  return { cookie: cookieOf(page), csrf: csrfOf(page.text) };
}
add("sign-in: JSON body", async () => { const s = await signInPage(); return http("POST", "/sign-in", { headers: { ...JSON_TYPE, Cookie: s.cookie }, body: JSON.stringify({ csrf: s.csrf, email: w.emailA, password: PASSWORD }) }); }, { status: 415 });
add("sign-in: no content type", async () => { const s = await signInPage(); return http("POST", "/sign-in", { headers: { Cookie: s.cookie }, body: `csrf=${s.csrf}` }); }, { status: 415 });
add("sign-in: PATCH", async () => { const s = await signInPage(); return http("PATCH", "/sign-in", { headers: { Cookie: s.cookie } }); }, { status: 415 });
add("sign-out: JSON body", () => http("POST", "/sign-out", { headers: { ...JSON_TYPE, Origin: app.url }, cookie: w.cookieA, body: "{}" }), { status: 415 });
add("connections revoke: text/plain body", () => http("POST", "/connections", { headers: { "Content-Type": "text/plain", Origin: app.url }, cookie: w.cookieB, body: "grantId=x" }), { status: 415 });

const badReturnTo = [
  "https://evil.example/",
  "//evil.example/",
  "/\\evil.example",
  "\\\\evil.example",
  "http:evil.example",
  "javascript:alert(1)",
  "/%2F%2Fevil.example",
  "/\t/evil.example",
  "/\n/evil.example",
  "https:/evil.example",
  " https://evil.example",
  "//%65vil.example",
  "/.//evil.example",
  "x".repeat(3000),
];
for (const returnTo of badReturnTo) {
  add(`sign-in: returnTo ${JSON.stringify(returnTo.slice(0, 40))} stays on this site`, async () => {
    const s = await signInPage();
    return postForm("/sign-in", { csrf: s.csrf, returnTo, email: w.emailA, password: PASSWORD }, {}, s.cookie);
  }, { status: 302, check: (r) => { const loc = r.headers.get("location")!; expect(new URL(loc, app.url).origin).toBe(app.url); expect(loc.startsWith("//")).toBe(false); } });
}
const signInCases: [string, () => Promise<Res>, Expect][] = [
  ["no csrf", async () => { const s = await signInPage(); return postForm("/sign-in", { returnTo: "/", email: w.emailA, password: PASSWORD }, {}, s.cookie); }, { status: 403 }],
  ["csrf without its cookie", async () => { const s = await signInPage(); return postForm("/sign-in", { csrf: s.csrf, returnTo: "/", email: w.emailA, password: PASSWORD }); }, { status: 403 }],
  ["csrf of another browser", async () => { const s = await signInPage(); const t = await signInPage(); return postForm("/sign-in", { csrf: t.csrf, returnTo: "/", email: w.emailA, password: PASSWORD }, {}, s.cookie); }, { status: 403 }],
  ["cross-origin POST", async () => { const s = await signInPage(); return postForm("/sign-in", { csrf: s.csrf, returnTo: "/", email: w.emailA, password: PASSWORD }, { Origin: "https://evil.example" }, s.cookie); }, { status: 403 }],
  ["wrong password", async () => { const s = await signInPage(); return postForm("/sign-in", { csrf: s.csrf, returnTo: "/", email: w.emailA, password: "wrong password here" }, {}, s.cookie); }, { status: 401 }],
  ["unknown email", async () => { const s = await signInPage(); return postForm("/sign-in", { csrf: s.csrf, returnTo: "/", email: "nobody@example.test", password: PASSWORD }, {}, s.cookie); }, { status: 401 }],
  ["email repeated", async () => { const s = await signInPage(); return postForm("/sign-in", [["csrf", s.csrf], ["returnTo", "/"], ["email", "nobody@example.test"], ["email", w.emailA], ["password", PASSWORD]], {}, s.cookie); }, { status: 401 }],
  ["email overlong", async () => { const s = await signInPage(); return postForm("/sign-in", { csrf: s.csrf, returnTo: "/", email: "a".repeat(5000) + "@x.test", password: PASSWORD }, {}, s.cookie); }, { status: 401 }],
  ["password overlong", async () => { const s = await signInPage(); return postForm("/sign-in", { csrf: s.csrf, returnTo: "/", email: w.emailA, password: "p".repeat(10_000) }, {}, s.cookie); }, { status: 401 }],
  ["email with control characters", async () => { const s = await signInPage(); return postForm("/sign-in", { csrf: s.csrf, returnTo: "/", email: `${w.emailA}\u0000`, password: PASSWORD }, {}, s.cookie); }, { status: 401 }],
  ["session fixation: a planted cookie is replaced at sign-in", async () => {
    const s = await signInPage();
    const res = await postForm("/sign-in", { csrf: s.csrf, returnTo: "/", email: w.emailA, password: PASSWORD }, {}, s.cookie);
    const fresh = cookieOf(res);
    expect(fresh).not.toBe(s.cookie);
    // The planted (pre-sign-in) cookie does not carry the new session.
    const planted = await http("GET", "/servers/new", { cookie: s.cookie });
    expect(planted.status).toBe(302);
    return res;
  }, { status: 302 }],
  ["forged session cookie", () => http("GET", "/servers/new", { cookie: "toolgate=eyJzaWQiOiJ4In0%3D.forged" }), { status: 302, check: (r) => expect(r.headers.get("location")).toMatch(/^\/sign-in/) }],
];
for (const [name, run, e] of signInCases) add(`sign-in: ${name}`, run, e);

// Server and tool forms: CSRF, other users' ids, markup --------------------------------------------
const serverForms = (): { path: string; fields: Record<string, string> }[] => [
  { path: "/servers/new", fields: { name: "Battery server", description: "" } },
  { path: `/servers/${w.serverA}/edit`, fields: { name: "Renamed", description: "" } },
  { path: `/servers/${w.serverA}/tools/new`, fields: { name: "battery_tool", description: "d", inputSchema: '{"type":"object"}', endpointUrl: "https://tools.example.test/x", endpointMethod: "POST", endpointHeaders: "" } },
  { path: `/servers/${w.serverA}/tools/${w.toolA}`, fields: { name: "echo", description: "d", inputSchema: '{"type":"object"}', endpointUrl: "https://tools.example.test/x", endpointMethod: "POST", endpointHeaders: "" } },
  { path: `/servers/${w.serverA}/tools/${w.toolA}/delete`, fields: {} },
  { path: `/servers/${w.serverA}/delete`, fields: {} },
  { path: "/sign-out", fields: {} },
];
const formNames = ["new server", "edit server", "new tool", "edit tool", "delete tool", "delete server", "sign out"];
formNames.forEach((label, i) => {
  add(`form ${label}: no csrf`, () => { const f = serverForms()[i]!; return postForm(f.path, f.fields, { Origin: app.url }, w.cookieA); }, { status: 403 });
  add(`form ${label}: another session's csrf`, () => { const f = serverForms()[i]!; return postForm(f.path, { ...f.fields, csrf: w.csrfB }, { Origin: app.url }, w.cookieA); }, { status: 403 });
  add(`form ${label}: cross-origin POST`, () => { const f = serverForms()[i]!; return postForm(f.path, { ...f.fields, csrf: w.csrfA }, { Origin: "https://evil.example" }, w.cookieA); }, { status: 403 });
});
/** A raw request with exactly these headers (fetch would not send our Host header). */
function rawPost(p: string, headers: Record<string, string>, body: string): Promise<Res> {
  return new Promise((resolve, reject) => {
    const url = new URL(app.url);
    const req = nodeHttp.request({ host: "127.0.0.1", port: url.port, path: p, method: "POST", headers: { ...headers, "Content-Length": Buffer.byteLength(body) } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode!, text, headers: new Headers(Object.entries(res.headers).flatMap(([k, v]) => (v === undefined ? [] : (Array.isArray(v) ? v : [v]).map((x) => [k, x] as [string, string])))) }));
    });
    req.on("error", reject);
    req.end(body);
  });
}
add("form new server: same-origin post through a proxy that forwards its own Host is accepted", () => rawPost("/servers/new", { ...FORM, Host: `127.0.0.1:${new URL(app.url).port}`, Origin: app.url, Cookie: w.cookieA }, form({ csrf: w.csrfA, name: "Via proxy", description: "" }).toString()), { status: 302 });
add("form new server: a forged X-Forwarded-Host does not make a foreign Origin pass", () => rawPost("/servers/new", { ...FORM, Host: "evil.example", "X-Forwarded-Host": "evil.example", Origin: "http://evil.example", Cookie: w.cookieA }, form({ csrf: w.csrfA, name: "Forged", description: "" }).toString()), { status: 403 });

const otherUser: [string, () => Promise<Res>][] = [
  ["view B's server", () => http("GET", `/servers/${w.serverB}`, { cookie: w.cookieA })],
  ["edit page of B's server", () => http("GET", `/servers/${w.serverB}/edit`, { cookie: w.cookieA })],
  ["activity of B's server", () => http("GET", `/servers/${w.serverB}/activity`, { cookie: w.cookieA })],
  ["connections of B's server", () => http("GET", `/servers/${w.serverB}/connections`, { cookie: w.cookieA })],
  ["B's tool page", () => http("GET", `/servers/${w.serverB}/tools/${w.toolB}`, { cookie: w.cookieA })],
  ["B's tool through A's server", () => http("GET", `/servers/${w.serverA}/tools/${w.toolB}`, { cookie: w.cookieA })],
  ["edit B's server", () => postForm(`/servers/${w.serverB}/edit`, { csrf: w.csrfA, name: "pwned", description: "" }, { Origin: app.url }, w.cookieA)],
  ["delete B's server", () => postForm(`/servers/${w.serverB}/delete`, { csrf: w.csrfA }, { Origin: app.url }, w.cookieA)],
  ["add a tool to B's server", () => postForm(`/servers/${w.serverB}/tools/new`, { csrf: w.csrfA, name: "x", description: "d", inputSchema: '{"type":"object"}', endpointUrl: "https://tools.example.test/x", endpointMethod: "POST", endpointHeaders: "" }, { Origin: app.url }, w.cookieA)],
  ["delete B's tool", () => postForm(`/servers/${w.serverB}/tools/${w.toolB}/delete`, { csrf: w.csrfA }, { Origin: app.url }, w.cookieA)],
  ["delete B's tool through A's server", () => postForm(`/servers/${w.serverA}/tools/${w.toolB}/delete`, { csrf: w.csrfA }, { Origin: app.url }, w.cookieA)],
  ["edit B's tool", () => postForm(`/servers/${w.serverB}/tools/${w.toolB}`, { csrf: w.csrfA, name: "x", description: "d", inputSchema: '{"type":"object"}', endpointUrl: "https://tools.example.test/x", endpointMethod: "POST", endpointHeaders: "" }, { Origin: app.url }, w.cookieA)],
];
for (const [name, run] of otherUser) add(`another user's ids: ${name}`, run, { status: 404 });
add("another user's ids: B's server untouched afterwards", () => http("GET", `/servers/${w.serverB}`, { cookie: w.cookieB }), { status: 200, contains: "Server B" });

// Connections and users: another user's grants and accounts.
const grantOfA = () => (db.prepare("SELECT id FROM grants WHERE user_id = ? AND revoked_at IS NULL LIMIT 1").get(w.userA) as { id: string }).id;
const accessCases: [string, () => Promise<Res>, Expect][] = [
  ["revoke another user's connection from /connections", () => postForm("/connections", { csrf: w.revokeCsrfB, grantId: grantOfA() }, { Origin: app.url }, w.cookieB), { status: 404 }],
  ["revoke another user's connection through own server's connections page", () => postForm(`/servers/${w.serverB}/connections`, { csrf: w.revokeCsrfB, grantId: grantOfA() }, { Origin: app.url }, w.cookieB), { status: 404 }],
  ["revoke a connection through another user's server page", () => postForm(`/servers/${w.serverA}/connections`, { csrf: w.revokeCsrfB, grantId: grantOfA() }, { Origin: app.url }, w.cookieB), { status: 404 }],
  ["revoke confirmation page of another user's connection", () => http("GET", `/connections/revoke?grantId=${grantOfA()}`, { cookie: w.cookieB }), { status: 404 }],
  ["revoke confirmation page of another user's connection on own server's page", () => http("GET", `/servers/${w.serverB}/connections/revoke?grantId=${grantOfA()}`, { cookie: w.cookieB }), { status: 404 }],
  ["revoke confirmation page on another user's server", () => http("GET", `/servers/${w.serverA}/connections/revoke?grantId=${grantOfA()}`, { cookie: w.cookieB }), { status: 404 }],
  ["revoke confirmation page with a malformed application key", () => http("GET", "/connections/revoke?app=../../x", { cookie: w.cookieB }), { status: 404 }],
  ["revoke all with an application key that names nothing of the user's", () => postForm("/connections", { csrf: w.revokeCsrfB, app: "AAAAAAAAAAAAAAAAAAAAAA" }, { Origin: app.url }, w.cookieB), { status: 404 }],
  ["rotate-secret confirmation page of another user's server", () => http("GET", `/servers/${w.serverA}/rotate-secret`, { cookie: w.cookieB }), { status: 404 }],
  ["revoke with an unknown grant id", () => postForm("/connections", { csrf: w.revokeCsrfB, grantId: "no-such-grant" }, { Origin: app.url }, w.cookieB), { status: 404 }],
  ["revoke without csrf", () => postForm("/connections", { grantId: grantOfA() }, { Origin: app.url }, w.cookieB), { status: 403 }],
  ["revoke with the general form csrf instead of the connections one", () => postForm("/connections", { csrf: w.csrfB, grantId: grantOfA() }, { Origin: app.url }, w.cookieB), { status: 403 }],
  ["revoke cross-origin", () => postForm("/connections", { csrf: w.revokeCsrfB, grantId: grantOfA() }, { Origin: "https://evil.example" }, w.cookieB), { status: 403 }],
  ["A's grant is still active afterwards", async () => { grantOfA(); return http("GET", "/connections", { cookie: w.cookieA }); }, { status: 200, contains: "Client A" }],
  ["a member opens the users page", () => http("GET", "/users", { cookie: w.cookieB }), { status: 404 }],
  ["a member adds a user", () => postForm("/users", { csrf: w.csrfB, email: "planted@example.test", role: "owner", password: "long enough password" }, { Origin: app.url }, w.cookieB), { status: 404 }],
  ["a member removes the owner", () => postForm(`/users/${w.userA}/remove`, { csrf: w.csrfB }, { Origin: app.url }, w.cookieB), { status: 404 }],
  ["the owner adds a user without csrf", () => postForm("/users", { email: "planted@example.test", role: "owner", password: "long enough password" }, { Origin: app.url }, w.cookieA), { status: 403 }],
  ["the owner removes themselves", () => postForm(`/users/${w.userA}/remove`, { csrf: w.csrfA }, { Origin: app.url }, w.cookieA), { status: 404 }],
];
for (const [name, run, e] of accessCases) add(`another user's ids: ${name}`, run, e);

const toolFormCases: [string, Record<string, string>, number][] = [
  ["script in tool name refused", { name: "<script>alert(1)</script>" }, 400],
  ["tool name overlong", { name: "t".repeat(500) }, 400],
  ["tool name empty", { name: "" }, 400],
  ["input schema not JSON", { inputSchema: "{nope" }, 400],
  ["input schema not an object type", { inputSchema: '{"type":"string"}' }, 400],
  ["endpoint javascript:", { endpointUrl: "javascript:alert(1)" }, 400],
  ["endpoint file:", { endpointUrl: "file:///etc/passwd" }, 400],
  ["endpoint method TRACE", { endpointMethod: "TRACE" }, 400],
  ["header name with a space", { endpointHeaders: "Bad Name: 1" }, 400],
  ["description overlong", { description: "d".repeat(100_000) }, 400],
];
for (const [name, override, status] of toolFormCases) {
  add(`tool form: ${name}`, () => postForm(`/servers/${w.serverA}/tools/new`, { csrf: w.csrfA, name: `t_${randomBytes(3).toString("hex")}`, description: "d", inputSchema: '{"type":"object"}', endpointUrl: "https://tools.example.test/x", endpointMethod: "POST", endpointHeaders: "", ...override }, { Origin: app.url }, w.cookieA), { status });
}
add("server form: name empty", () => postForm("/servers/new", { csrf: w.csrfA, name: "", description: "" }, { Origin: app.url }, w.cookieA), { status: 400 });
add("server form: name overlong", () => postForm("/servers/new", { csrf: w.csrfA, name: "n".repeat(1000), description: "" }, { Origin: app.url }, w.cookieA), { status: 400 });
add("server page: markup in the tool description is escaped", () => http("GET", `/servers/${w.serverA}`, { cookie: w.cookieA }), { status: 200, check: (r) => { expect(r.text).toContain("&lt;img src=x onerror=alert(1)&gt;"); expect(r.text).not.toMatch(/<img[^>]+onerror/i); } });
add("server page: markup in the server name is escaped", () => http("GET", `/servers/${w.serverA}`, { cookie: w.cookieA }), { status: 200, check: (r) => { expect(r.text).toContain("&lt;script&gt;alert(&#x27;srv&#x27;)&lt;/script&gt;"); expect(r.text).not.toContain("<script>alert('srv')</script>"); } });
add("pages: every inline script carries the nonce", () => http("GET", `/servers/${w.serverA}`, { cookie: w.cookieA }), { status: 200, check: (r) => { const nonce = /'nonce-([^']+)'/.exec(r.headers.get("content-security-policy")!)![1]; for (const tag of r.text.match(/<script\b[^>]*>/g) ?? []) expect(tag).toContain(`nonce="${nonce}"`); } });
add("pages: signed-out request to a page goes to sign-in", () => http("GET", `/servers/${w.serverA}`), { status: 302 });
add("pages: unknown page", () => http("GET", "/no-such-page", { cookie: w.cookieA }), { status: 404 });
add("pages: path with encoded traversal", () => http("GET", "/build/..%2F..%2Fpackage.json"), { status: 404 });

// ---------------------------------------------------------------------------------------------

const STACK = /\n\s+at [\w.<>]+ \(|\/work\/|node_modules\/|\.tsx?:\d+:\d+|file:\/\/\/(work|home|usr|tmp)/;

beforeAll(async () => {
  app = await startApp({ TOOLGATE_RATE_LIMIT: "off", TOOLGATE_LOG_LEVEL: "debug" });
  db = new Database(path.join(app.dataDir, "toolgate.db"));
  db.pragma("busy_timeout = 5000");
  remember(PASSWORD);
  const a = await createUser(app, { owner: true });
  const b = await createUser(app);
  w.emailA = a.email;
  w.userA = a.id;
  w.userB = b.id;
  w.cookieA = await signIn(a.email);
  w.cookieB = await signIn(b.email);
  w.csrfA = csrfOf((await http("GET", "/servers/new", { cookie: w.cookieA })).text);
  w.csrfB = csrfOf((await http("GET", "/servers/new", { cookie: w.cookieB })).text);

  const createServer = async (cookie: string, csrf: string, name: string) => {
    const res = await postForm("/servers/new", { csrf, name, description: "" }, { Origin: app.url }, cookie);
    expect(res.status, res.text).toBe(302);
    return res.headers.get("location")!.split("/")[2]!.split("?")[0]!;
  };
  const addTool = async (cookie: string, csrf: string, serverId: string, name: string, description: string) => {
    const res = await postForm(`/servers/${serverId}/tools/new`, { csrf, name, description, inputSchema: '{"type":"object"}', endpointUrl: "https://tools.example.test/x", endpointMethod: "POST", endpointHeaders: "" }, { Origin: app.url }, cookie);
    expect(res.status, res.text).toBe(302);
    return db.prepare("SELECT id FROM tools WHERE server_id = ? AND name = ?").get(serverId, name) as { id: string };
  };
  w.serverA = await createServer(w.cookieA, w.csrfA, "<script>alert('srv')</script>");
  w.serverB = await createServer(w.cookieB, w.csrfB, "Server B");
  w.toolA = (await addTool(w.cookieA, w.csrfA, w.serverA, "echo", "<img src=x onerror=alert(1)>")).id;
  w.toolB = (await addTool(w.cookieB, w.csrfB, w.serverB, "secret_tool", "B only")).id;
  w.resourceA = `${app.url}/mcp/${w.serverA}`;
  w.resourceB = `${app.url}/mcp/${w.serverB}`;
  w.clientA = (await register({ client_name: "Client A", redirect_uris: [REDIRECT, LOOPBACK], token_endpoint_auth_method: "none" })).client_id;
  w.clientB = (await register({ client_name: "Client B", redirect_uris: ["https://other.example.test/cb", REDIRECT], token_endpoint_auth_method: "none" })).client_id;
  const conf = await register({ client_name: "Confidential", redirect_uris: [REDIRECT], token_endpoint_auth_method: "client_secret_post" });
  w.confidential = conf.client_id;
  w.confidentialSecret = conf.client_secret!;
  w.markupClient = (await register({ client_name: '<script>alert("name")</script><img src=x onerror=alert(2)>', redirect_uris: [REDIRECT], logo_uri: "https://logo.example.test/x.png\"><img src=x onerror=alert(3)>", token_endpoint_auth_method: "none" })).client_id;
  // B connects a client to B's own server, so B's connections page has a revoke form.
  {
    const { challenge } = pkce();
    const requestId = await startRequest({ resource: w.resourceB }, challenge, w.cookieB);
    const page = await http("GET", `/authorize?request=${requestId}`, { cookie: w.cookieB });
    const res = await postForm("/authorize", [["csrf", csrfOf(page.text)], ["request", requestId], ["tool", w.toolB], ["intent", "approve"]], { Origin: app.url }, w.cookieB);
    expect(res.status, res.text).toBe(303);
    remember(new URL(res.headers.get("location")!).searchParams.get("code")!);
    // The revoke form (with its CSRF token) is on the confirmation step before Revoke access.
    const grantB = (db.prepare("SELECT id FROM grants WHERE user_id = ? AND revoked_at IS NULL LIMIT 1").get(w.userB) as { id: string }).id;
    w.revokeCsrfB = csrfOf((await http("GET", `/connections/revoke?grantId=${grantB}`, { cookie: w.cookieB })).text);
  }
}, 60_000);

afterAll(async () => {
  db?.close();
  await app?.stop();
});

describe("hostile-input battery", () => {
  it.each(cases.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    const res = await c.run();
    results.tried++;
    if (res.status >= 500) results.fiveHundreds++;
    expect(res.status, res.text.slice(0, 300)).toBeLessThan(500);
    expect(res.text).not.toMatch(STACK);
    expect(res.status, res.text.slice(0, 300)).toBe(c.expect.status);
    if (c.expect.error) expect((JSON.parse(res.text) as { error: string }).error).toBe(c.expect.error);
    if (c.expect.contains) expect(res.text).toContain(c.expect.contains);
    c.expect.check?.(res);
  });

  it("tried every case, saw no 5xx, and left no secret in the logs", async () => {
    console.log(`security battery: ${results.tried} cases tried, ${results.fiveHundreds} answers 5xx, ${secrets.size} secrets checked against the logs`);
    // SECURITY.md states this figure; change both together.
    expect(cases.length).toBe(305);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
    expect(results.tried).toBe(cases.length);
    expect(results.fiveHundreds).toBe(0);
    const logs = app.output();
    expect(logs.length).toBeGreaterThan(1000);
    for (const secret of secrets) {
      const value = secret.includes("=") ? secret.slice(secret.indexOf("=") + 1) : secret;
      if (value.length < 12) continue;
      expect(logs.includes(value), `a secret (${value.slice(0, 6)}…) appears in the logs`).toBe(false);
    }
  });
});
