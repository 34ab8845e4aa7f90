/**
 * Against the built app (`toolgate serve` as a child process, real HTTP, real SQLite file):
 * - client strings are rendered isolated and cleaned on every page that shows them (decision 031);
 * - stored bytes per registration stay bounded (decision 032);
 * - one first-run setup makes one owner, however many forms are posted at once (decision 033);
 * - a signing secret shown once never travels in a cookie (decision 034).
 */
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decryptText } from "~/utils/crypto.server";
import { createUser, PASSWORD, startApp, type AppUnderTest } from "../e2e/fixtures";

type App = AppUnderTest & { stop(): Promise<void> };
type Res = { status: number; text: string; headers: Headers };

async function http(app: App, method: string, p: string, init: { body?: URLSearchParams | string; cookie?: string; headers?: Record<string, string> } = {}): Promise<Res> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.cookie) headers.Cookie = init.cookie;
  if (init.body instanceof URLSearchParams) {
    headers["Content-Type"] = "application/x-www-form-urlencoded";
    headers.Origin = app.url;
  }
  const res = await fetch(app.url + p, { method, headers, body: init.body, redirect: "manual" });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

const csrfOf = (html: string) => [...html.matchAll(/name="csrf" value="([^"]+)"/g)].at(-1)![1]!;
const cookieOf = (res: Res) => res.headers.get("set-cookie")!.split(";")[0]!;

/** Every Set-Cookie of an answer, each value decoded the way Remix encodes it (signed base64 JSON). */
function decodedCookies(res: Res): string[] {
  return res.headers.getSetCookie().map((header) => {
    const value = decodeURIComponent(header.split(";")[0]!.split("=").slice(1).join("="));
    const payload = value.slice(0, value.lastIndexOf(".") === -1 ? undefined : value.lastIndexOf("."));
    const raw = Buffer.from(payload, "base64").toString("latin1");
    let text = raw;
    try {
      text = decodeURIComponent(escape(raw));
    } catch {
      // not Remix-encoded: check it as it is
    }
    return `${header}\n${text}`;
  });
}

async function signIn(app: App, email: string): Promise<string> {
  const page = await http(app, "GET", "/sign-in");
  const res = await http(app, "POST", "/sign-in", {
    body: new URLSearchParams({ csrf: csrfOf(page.text), returnTo: "/", email, password: PASSWORD }),
    cookie: cookieOf(page),
  });
  expect(res.status).toBe(302);
  return cookieOf(res);
}

describe("a running workspace", () => {
  let app: App;
  let db: Database.Database;
  let cookie = "";
  let ownerId = "";

  beforeAll(async () => {
    app = await startApp();
    db = new Database(path.join(app.dataDir, "toolgate.db"));
    db.pragma("busy_timeout = 5000");
    const owner = await createUser(app, { owner: true });
    ownerId = owner.id;
    cookie = await signIn(app, owner.email);
  }, 60_000);
  afterAll(async () => {
    db?.close();
    await app?.stop();
  });

  const dataKey = () => Buffer.from((JSON.parse(fs.readFileSync(path.join(app.dataDir, "secrets.json"), "utf8")) as { dataKey: string }).dataKey, "base64url");
  const storedSecret = (serverId: string) =>
    decryptText(dataKey(), (db.prepare("SELECT signing_secret_enc AS s FROM mcp_servers WHERE id = ?").get(serverId) as { s: string }).s);

  describe("decision 034: a secret shown once never travels in a cookie", () => {
    it("creating a server shows its signing secret once; no Set-Cookie carries it, a second load (or a replayed cookie) does not show it", async () => {
      const form = await http(app, "GET", "/servers/new", { cookie });
      const created = await http(app, "POST", "/servers/new", { body: new URLSearchParams({ csrf: csrfOf(form.text), name: "Secrets", description: "" }), cookie });
      expect(created.status).toBe(302);
      const serverId = created.headers.get("location")!.split("/")[2]!.split(/[?#]/)[0]!;
      const secret = storedSecret(serverId);
      expect(secret).toMatch(/^tgs_/);
      for (const c of decodedCookies(created)) {
        expect(c).not.toContain(secret);
        expect(c).not.toContain("tgs_");
        expect(c).not.toContain("__flash_signingSecret__");
      }
      // The server keeps only the encrypted secret, under a reference's hash.
      const rows = db.prepare("SELECT secret_enc AS s, expires_at - created_at AS ttl FROM shown_once_secrets WHERE user_id = ?").all(ownerId) as { s: string; ttl: number }[];
      expect(rows).toHaveLength(1);
      expect(rows[0]!.s).not.toContain(secret);
      expect(rows[0]!.ttl).toBeLessThanOrEqual(10 * 60 * 1000);

      const flashCookie = cookieOf(created);
      const shown = await http(app, "GET", `/servers/${serverId}`, { cookie: flashCookie });
      expect(shown.status).toBe(200);
      expect(shown.text).toContain(secret);
      for (const c of decodedCookies(shown)) expect(c).not.toContain(secret);
      expect(db.prepare("SELECT count(*) AS n FROM shown_once_secrets").get()).toEqual({ n: 0 });

      const again = await http(app, "GET", `/servers/${serverId}`, { cookie: shown.headers.get("set-cookie") ? cookieOf(shown) : flashCookie });
      expect(again.text).not.toContain(secret);
      expect(again.text).not.toContain("tgs_");
      // The cookie of the redirect, replayed, finds its secret gone.
      const replayed = await http(app, "GET", `/servers/${serverId}`, { cookie: flashCookie });
      expect(replayed.text).not.toContain("tgs_");
    });

    it("rotating the signing secret shows the new one once, never in a cookie", async () => {
      const form = await http(app, "GET", "/servers/new", { cookie });
      const created = await http(app, "POST", "/servers/new", { body: new URLSearchParams({ csrf: csrfOf(form.text), name: "Rotate", description: "" }), cookie });
      const serverId = created.headers.get("location")!.split("/")[2]!.split(/[?#]/)[0]!;
      const page = await http(app, "GET", `/servers/${serverId}`, { cookie: cookieOf(created) });
      const session = page.headers.get("set-cookie") ? cookieOf(page) : cookieOf(created);
      const rotated = await http(app, "POST", `/servers/${serverId}`, { body: new URLSearchParams({ csrf: csrfOf(page.text), intent: "rotate-secret" }), cookie: session });
      expect(rotated.status).toBe(302);
      const secret = storedSecret(serverId);
      for (const c of decodedCookies(rotated)) expect(c).not.toContain(secret);
      const shown = await http(app, "GET", `/servers/${serverId}`, { cookie: cookieOf(rotated) });
      expect(shown.text).toContain(secret);
      const again = await http(app, "GET", `/servers/${serverId}`, { cookie: shown.headers.get("set-cookie") ? cookieOf(shown) : cookieOf(rotated) });
      expect(again.text).not.toContain(secret);
    });

    it("another user cannot read a secret by its reference", async () => {
      const other = await createUser(app);
      const otherCookie = await signIn(app, other.email);
      const form = await http(app, "GET", "/servers/new", { cookie });
      const created = await http(app, "POST", "/servers/new", { body: new URLSearchParams({ csrf: csrfOf(form.text), name: "Mine", description: "" }), cookie });
      const serverId = created.headers.get("location")!.split("/")[2]!.split(/[?#]/)[0]!;
      // The other user's browser with the owner's flash reference cannot see the server, nor take the row.
      const res = await http(app, "GET", `/servers/${serverId}`, { cookie: otherCookie });
      expect(res.status).toBe(404);
      expect(db.prepare("SELECT count(*) AS n FROM shown_once_secrets WHERE user_id = ?").get(ownerId)).toEqual({ n: 1 });
      expect((await http(app, "GET", `/servers/${serverId}`, { cookie: cookieOf(created) })).text).toContain(storedSecret(serverId));
    });
  });

  describe("decision 031: client strings are isolated and cleaned on every page", () => {
    const EVIL = "Evil\u202Eresu\u200B\u2066";
    let serverId = "";
    let clientId = "";

    beforeAll(async () => {
      const form = await http(app, "GET", "/servers/new", { cookie });
      const created = await http(app, "POST", "/servers/new", { body: new URLSearchParams({ csrf: csrfOf(form.text), name: "Weather", description: "" }), cookie });
      serverId = created.headers.get("location")!.split("/")[2]!.split(/[?#]/)[0]!;
      await http(app, "GET", `/servers/${serverId}`, { cookie: cookieOf(created) });
      const toolForm = await http(app, "GET", `/servers/${serverId}/tools/new`, { cookie });
      const tool = await http(app, "POST", `/servers/${serverId}/tools/new`, {
        body: new URLSearchParams({ csrf: csrfOf(toolForm.text), name: "forecast", description: "d", inputSchema: '{"type":"object"}', endpointUrl: "https://tools.example.test/x", endpointMethod: "POST", endpointHeaders: "" }),
        cookie,
      });
      expect(tool.status).toBe(302);
      // A client stored before registration refused such names (registration refuses it now).
      const refused = await http(app, "POST", "/register", { headers: { "Content-Type": "application/json" }, body: JSON.stringify({ client_name: EVIL, redirect_uris: ["https://client.example.test/cb"], token_endpoint_auth_method: "none" }) });
      expect(refused.status).toBe(400);
      const ok = await http(app, "POST", "/register", { headers: { "Content-Type": "application/json" }, body: JSON.stringify({ client_name: "Placeholder", redirect_uris: ["https://client.example.test/cb"], token_endpoint_auth_method: "none" }) });
      clientId = (JSON.parse(ok.text) as { client_id: string }).client_id;
      db.prepare("UPDATE oauth_clients SET client_name = ? WHERE id = ?").run(EVIL, clientId);
    });

    /** No character that could reorder the page is in the HTML, and the name sits alone in a <bdi>. */
    function expectIsolated(html: string) {
      expect(html).not.toMatch(/[\u202A-\u202E\u2066-\u2069\u200B-\u200F\u061C\uFEFF]/);
      expect(html).toContain("<bdi>Evil\uFFFDresu\uFFFD\uFFFD</bdi>");
    }

    it("consent page, Authorization Complete-free web flow, connected apps and Activity", async () => {
      const query = new URLSearchParams({
        response_type: "code",
        client_id: clientId,
        redirect_uri: "https://client.example.test/cb",
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        code_challenge_method: "S256",
        state: "s",
        resource: `${app.url}/mcp/${serverId}`,
      });
      const start = await http(app, "GET", `/authorize?${query}`, { cookie });
      expect(start.status).toBe(302);
      const consent = await http(app, "GET", start.headers.get("location")!, { cookie });
      expect(consent.status).toBe(200);
      expectIsolated(consent.text);
      // Toolgate's own sentence follows the isolated name unchanged.
      const lead = /<p class="consent-lead">(.*?)<\/p>/.exec(consent.text)![1]!.replace(/<!-- -->/g, "");
      expect(lead).toMatch(/^<strong class="consent-client"><bdi>Evil\uFFFDresu\uFFFD\uFFFD<\/bdi><\/strong> <span[^>]*>Unverified<\/span> wants to use tools on your MCP server\.$/);
      expect(consent.text).toContain('<dd data-testid="returns-to"><code data-testid="redirect-host"><bdi>client.example.test</bdi></code></dd>');

      const requestId = new URL(start.headers.get("location")!, app.url).searchParams.get("request")!;
      const toolId = (db.prepare("SELECT id FROM tools WHERE server_id = ?").get(serverId) as { id: string }).id;
      const approved = await http(app, "POST", start.headers.get("location")!, {
        body: new URLSearchParams([["csrf", csrfOf(consent.text)], ["request", requestId], ["tool", toolId], ["intent", "approve"]]),
        cookie,
      });
      expect(approved.status).toBe(303);

      for (const page of ["/connections", `/servers/${serverId}/connections`, `/servers/${serverId}/activity`]) {
        const res = await http(app, "GET", page, { cookie });
        expect(res.status, page).toBe(200);
        expectIsolated(res.text);
      }
      const activity = await http(app, "GET", `/servers/${serverId}/activity`, { cookie });
      expect(activity.text).toMatch(/ approved <bdi>Evil\uFFFDresu\uFFFD\uFFFD<\/bdi> for <bdi>forecast<\/bdi>/);
      expect(activity.text).toMatch(/<option value="[^"]+" dir="auto">Evil\uFFFDresu\uFFFD\uFFFD<\/option>/);
    });

    it('"Returns to" names this computer\'s port and an app on this device', async () => {
      const ok = await http(app, "POST", "/register", {
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ client_name: "Native", redirect_uris: ["http://127.0.0.1/callback", "com.example.app:/cb"], token_endpoint_auth_method: "none" }),
      });
      const native = (JSON.parse(ok.text) as { client_id: string }).client_id;
      const page = async (redirectUri: string) => {
        const query = new URLSearchParams({ response_type: "code", client_id: native, redirect_uri: redirectUri, code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", code_challenge_method: "S256", resource: `${app.url}/mcp/${serverId}` });
        const start = await http(app, "GET", `/authorize?${query}`, { cookie });
        return (await http(app, "GET", start.headers.get("location")!, { cookie })).text;
      };
      expect(await page("http://127.0.0.1:40123/callback")).toContain('<dd data-testid="returns-to">this computer (port <code data-testid="redirect-host">40123</code>)</dd>');
      expect(await page("com.example.app:/cb")).toContain('an app on this device (<code data-testid="redirect-host"><bdi>com.example.app:</bdi></code>)');
    });
  });

  describe("decision 032: registrations cannot amplify storage", () => {
    it("refuses the 44 KB registration (20 redirect URIs of 2000 characters) and says why", async () => {
      const uris = Array.from({ length: 20 }, (_, i) => `https://client.example.test/${i}/${"a".repeat(1970)}`);
      const res = await http(app, "POST", "/register", { headers: { "Content-Type": "application/json" }, body: JSON.stringify({ client_name: "Big", redirect_uris: uris, token_endpoint_auth_method: "none" }) });
      expect(res.status).toBe(400);
      expect(JSON.parse(res.text)).toEqual({ error: "invalid_redirect_uri", error_description: "redirect_uris: at most 10 redirect URIs are allowed" });
      const ten = uris.slice(0, 10);
      const big = await http(app, "POST", "/register", { headers: { "Content-Type": "application/json" }, body: JSON.stringify({ client_name: "Big", redirect_uris: ten, token_endpoint_auth_method: "none" }) });
      expect(JSON.parse(big.text).error_description).toMatch(/^The client metadata is too large \(\d+ characters; at most 8192 for redirect URIs, names and URIs together\)$/);
    });

    it("stores under 12 KB per registration at the largest size accepted, metadata and audit included", async () => {
      const pageBytes = () => {
        db.pragma("wal_checkpoint(TRUNCATE)");
        const { page_count } = db.prepare("PRAGMA page_count").get() as { page_count: number };
        const { freelist_count } = db.prepare("PRAGMA freelist_count").get() as { freelist_count: number };
        const { page_size } = db.prepare("PRAGMA page_size").get() as { page_size: number };
        return (page_count - freelist_count) * page_size;
      };
      // As large as accepted: four URIs of ~1,900 characters, a long name and every URI field.
      const body = (i: number) => ({
        client_name: `Largest ${i} ${"n".repeat(80)}`,
        redirect_uris: Array.from({ length: 4 }, (_, j) => `https://client.example.test/${i}/${j}/${"r".repeat(1440)}`),
        client_uri: `https://client.example.test/${"c".repeat(400)}`,
        logo_uri: `https://client.example.test/${"l".repeat(400)}`,
        tos_uri: `https://client.example.test/${"t".repeat(400)}`,
        policy_uri: `https://client.example.test/${"p".repeat(400)}`,
        software_id: "s".repeat(200),
        software_version: "v".repeat(100),
        token_endpoint_auth_method: "none",
      });
      expect(JSON.stringify(body(0)).length).toBeGreaterThan(7500);
      const before = pageBytes();
      const n = 100;
      for (let i = 0; i < n; i++) {
        const res = await http(app, "POST", "/register", { headers: { "Content-Type": "application/json" }, body: JSON.stringify(body(i)) });
        expect(res.status, res.text).toBe(201);
      }
      const perRegistration = (pageBytes() - before) / n;
      console.info(`storage: ${Math.round(perRegistration)} bytes per registration of ${JSON.stringify(body(0)).length} characters`);
      expect(perRegistration).toBeLessThan(12 * 1024);
      // Each redirect URI is stored once: in the client row, not in its metadata or its audit event.
      const row = db.prepare("SELECT metadata FROM oauth_clients WHERE client_name LIKE 'Largest 7 %'").get() as { metadata: string };
      expect(row.metadata).not.toContain("rrrr");
      const audit = db.prepare("SELECT max(length(detail)) AS n FROM audit_events WHERE kind = 'client.registered'").get() as { n: number };
      expect(audit.n).toBeLessThan(200);
    });
  });
});

describe("decision 033: one first-run setup makes one owner", () => {
  let app: App;
  let db: Database.Database;
  beforeAll(async () => {
    app = await startApp();
    db = new Database(path.join(app.dataDir, "toolgate.db"));
    db.pragma("busy_timeout = 5000");
  }, 60_000);
  afterAll(async () => {
    db?.close();
    await app?.stop();
  });

  it("ten /setup posts at once: one owner, one success, nine sent to a page that says the owner exists", async () => {
    const browsers = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const page = await http(app, "GET", "/setup");
        expect(page.status).toBe(200);
        return { i, cookie: cookieOf(page), csrf: csrfOf(page.text) };
      }),
    );
    const answers = await Promise.all(
      browsers.map((b) =>
        http(app, "POST", "/setup", {
          body: new URLSearchParams({ csrf: b.csrf, email: `owner${b.i}@example.test`, name: "", password: PASSWORD, confirm: PASSWORD }),
          cookie: b.cookie,
        }),
      ),
    );
    const won = answers.filter((a) => a.status === 302 && a.headers.get("location") === "/");
    expect(won).toHaveLength(1);
    const lost = answers.filter((a) => a !== won[0]);
    for (const a of lost) {
      expect(a.status).toBe(302);
      expect(a.headers.get("location")).toBe("/setup?taken=1");
      const told = await http(app, "GET", a.headers.get("location")!);
      expect(told.status).toBe(409);
      expect(told.text).toContain("The owner account of this workspace was created a moment ago, so this one was not. Sign in instead.");
    }
    expect(db.prepare("SELECT count(*) AS n FROM users").get()).toEqual({ n: 1 });
    expect(db.prepare("SELECT count(*) AS n FROM users WHERE role = 'owner'").get()).toEqual({ n: 1 });
    // After it, the form is gone.
    expect((await http(app, "GET", "/setup")).status).toBe(302);
  });
});
