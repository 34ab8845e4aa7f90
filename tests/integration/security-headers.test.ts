/**
 * Headers everywhere (issue 7), checked on every page and protocol endpoint of the built app served
 * with an https PUBLIC_URL: a CSP whose scripts all need the nonce, no framing, nosniff, a strict
 * referrer policy, HSTS, and no-store on every authorization and token answer.
 */
import { createHash, randomBytes } from "node:crypto";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUser, PASSWORD, startApp, type AppUnderTest } from "../e2e/fixtures";

let app: AppUnderTest & { stop(): Promise<void> };
let plain: AppUnderTest & { stop(): Promise<void> };
let cookie = "";
let origin = "";
const REDIRECT = "https://client.example.test/callback";
const ids = { server: "", tool: "", client: "", request: "", user: "" };

type Got = { status: number; headers: Headers; text: string };
async function get(base: string, p: string, init: RequestInit = {}): Promise<Got> {
  const res = await fetch(base + p, { redirect: "manual", ...init, headers: { ...(cookie ? { Cookie: cookie } : {}), ...(init.headers as Record<string, string>) } });
  return { status: res.status, headers: res.headers, text: await res.text() };
}
const local = (p: string, init: RequestInit = {}) => get(`http://127.0.0.1:${new URL(app.url).port}`, p, init);

beforeAll(async () => {
  // Served over plain HTTP here, as behind a TLS-terminating proxy; PUBLIC_URL says https.
  origin = "https://toolgate.example.test";
  app = await startApp({ PUBLIC_URL: origin });
  plain = await startApp();
  const owner = await createUser(app, { owner: true });
  const page = await local("/sign-in");
  const pre = page.headers.get("set-cookie")!.split(";")[0]!;
  const csrf = [...page.text.matchAll(/name="csrf" value="([^"]+)"/g)].at(-1)![1]!;
  const signed = await local("/sign-in", { method: "POST", headers: { Cookie: pre, "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ csrf, returnTo: "/", email: owner.email, password: PASSWORD }) });
  expect(signed.status).toBe(302);
  cookie = signed.headers.get("set-cookie")!.split(";")[0]!;
  const created = await app.cli(["server", "create", "--owner", owner.email, "--name", "Headers"]);
  expect(created.code).toBe(0);
  const db = new Database(path.join(app.dataDir, "toolgate.db"), { readonly: true });
  ids.server = (db.prepare("SELECT id FROM mcp_servers").get() as { id: string }).id;
  ids.user = owner.id;
  db.close();
  const form = await local(`/servers/${ids.server}/tools/new`);
  const formCsrf = [...form.text.matchAll(/name="csrf" value="([^"]+)"/g)].at(-1)![1]!;
  const added = await local(`/servers/${ids.server}/tools/new`, { method: "POST", headers: { Origin: origin, "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ csrf: formCsrf, name: "echo", description: "d", inputSchema: '{"type":"object"}', endpointUrl: "https://tools.example.test/x", endpointMethod: "POST", endpointHeaders: "" }) });
  expect(added.status).toBe(302);
  const db2 = new Database(path.join(app.dataDir, "toolgate.db"), { readonly: true });
  ids.tool = (db2.prepare("SELECT id FROM tools").get() as { id: string }).id;
  db2.close();
  const reg = await local("/register", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ client_name: "H", redirect_uris: [REDIRECT], token_endpoint_auth_method: "none" }) });
  ids.client = (JSON.parse(reg.text) as { client_id: string }).client_id;
  const challenge = createHash("sha256").update(randomBytes(32).toString("base64url")).digest("base64url");
  const start = await local(`/authorize?${new URLSearchParams({ response_type: "code", client_id: ids.client, redirect_uri: REDIRECT, code_challenge: challenge, code_challenge_method: "S256", state: "s", resource: `${origin}/mcp/${ids.server}` })}`);
  expect(start.status).toBe(302);
  ids.request = new URL(start.headers.get("location")!, origin).searchParams.get("request")!;
}, 60_000);

afterAll(async () => {
  await app?.stop();
  await plain?.stop();
});

const pages = () => [
  "/",
  "/sign-in",
  "/servers/new",
  `/servers/${ids.server}`,
  `/servers/${ids.server}/edit`,
  `/servers/${ids.server}/activity`,
  `/servers/${ids.server}/connections`,
  `/servers/${ids.server}/delete`,
  `/servers/${ids.server}/tools/new`,
  `/servers/${ids.server}/tools/${ids.tool}`,
  `/servers/${ids.server}/tools/${ids.tool}/delete`,
  "/connections",
  "/users",
  `/users/${ids.user}/remove`,
  `/authorize?request=${ids.request}`,
  "/authorize?client_id=unknown",
  "/no-such-page",
];

function expectPageHeaders(p: string, r: Got) {
  const csp = r.headers.get("content-security-policy");
  expect(csp, p).toBeTruthy();
  const script = /script-src ([^;]+)/.exec(csp!)![1]!;
  expect(script, p).not.toContain("'unsafe-inline'");
  expect(script, p).not.toContain("'unsafe-eval'");
  const nonce = /'nonce-([^']+)'/.exec(script)?.[1];
  expect(nonce, p).toBeTruthy();
  for (const tag of r.text.match(/<script\b[^>]*>/g) ?? []) expect(tag, `${p}: ${tag}`).toContain(`nonce="${nonce}"`);
  expect(r.text, p).not.toMatch(/\son[a-z]+="/i); // no inline event handlers
  expect(csp, p).toContain("frame-ancestors 'none'");
  expect(csp, p).toContain("object-src 'none'");
  expect(csp, p).toContain("base-uri 'none'");
  expect(r.headers.get("x-frame-options"), p).toBe("DENY");
  expect(r.headers.get("x-content-type-options"), p).toBe("nosniff");
  expect(["same-origin", "no-referrer", "strict-origin", "strict-origin-when-cross-origin"], p).toContain(r.headers.get("referrer-policy"));
  expect(r.headers.get("strict-transport-security"), p).toMatch(/^max-age=\d{7,}/);
}

describe("pages", () => {
  it("every page has the CSP with nonce-only scripts, no framing, nosniff, a strict referrer policy and HSTS", async () => {
    for (const p of pages()) {
      // /sign-in redirects a signed-in browser: look at it signed out.
      const r = await local(p, p === "/sign-in" ? { headers: { Cookie: "" } } : {});
      expect(r.status, `${p} -> ${r.status} ${r.headers.get("location")}`).not.toBe(302);
      expect(r.status, `${p} -> ${r.status}`).toBeLessThan(500);
      expect(r.headers.get("content-type"), p).toContain("text/html");
      expectPageHeaders(p, r);
    }
  });

  it("the consent page and the authorization answers are never stored", async () => {
    const consent = await local(`/authorize?request=${ids.request}`);
    expect(consent.status).toBe(200);
    expect(consent.headers.get("cache-control")).toContain("no-store");
    const error = await local("/authorize?client_id=unknown");
    expect(error.headers.get("cache-control")).toContain("no-store");
    const redirect = await local(`/authorize?${new URLSearchParams({ response_type: "code", client_id: ids.client, redirect_uri: REDIRECT, code_challenge: "x".repeat(43), code_challenge_method: "S256", resource: `${origin}/mcp/${ids.server}` })}`);
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get("cache-control")).toContain("no-store");
  });

  it("no HSTS when PUBLIC_URL is http", async () => {
    // No account yet: the first-run page.
    const r = await get(plain.url.replace("localhost", "127.0.0.1"), "/setup", { headers: { Cookie: "" } });
    expect(r.status).toBe(200);
    expect(r.headers.get("strict-transport-security")).toBeNull();
    expect(r.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
  });
});

describe("protocol endpoints", () => {
  const json = { "Content-Type": "application/json" };
  const form = { "Content-Type": "application/x-www-form-urlencoded" };
  const endpoints = (): [string, string, RequestInit, boolean][] => [
    // [name, path, init, carries or concerns credentials (no-store required)]
    ["AS metadata", "/.well-known/oauth-authorization-server", {}, false],
    ["resource metadata", `/.well-known/oauth-protected-resource/mcp/${ids.server}`, {}, false],
    ["register 201", "/register", { method: "POST", headers: json, body: JSON.stringify({ redirect_uris: [REDIRECT], token_endpoint_auth_method: "none" }) }, true],
    ["register 400", "/register", { method: "POST", headers: json, body: "{}" }, true],
    ["token 400", "/token", { method: "POST", headers: form, body: "grant_type=authorization_code" }, true],
    ["token 401", "/token", { method: "POST", headers: form, body: `grant_type=authorization_code&client_id=nope&code=x&code_verifier=${"a".repeat(43)}` }, true],
    ["revoke 200", "/revoke", { method: "POST", headers: form, body: `client_id=${ids.client}&token=x` }, true],
    ["revoke 400", "/revoke", { method: "POST", headers: form, body: "" }, true],
    ["mcp 401", `/mcp/${ids.server}`, { method: "POST", headers: json, body: "{}" }, false],
  ];

  it("JSON answers are nosniff; credential answers are no-store; HSTS under https", async () => {
    for (const [name, p, init, credentials] of endpoints()) {
      const r = await local(p, init);
      expect(r.status, name).toBeLessThan(500);
      expect(r.headers.get("x-content-type-options"), name).toBe("nosniff");
      if (credentials) expect(r.headers.get("cache-control"), name).toBe("no-store");
      expect(r.headers.get("strict-transport-security"), name).toMatch(/^max-age=\d{7,}/);
    }
  });
});
