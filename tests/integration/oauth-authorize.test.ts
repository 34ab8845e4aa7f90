/**
 * GET /authorize (the loader) and POST /authorize (Approve/Deny), called with real Requests on a
 * real SQLite copy. Grouped by the rule each group proves.
 */
import { createHash, randomBytes } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createUserSession, csrfToken, sessionStorage } from "~/auth/session.server";
import { createUser } from "~/auth/users.server";
import {
  auditEvents,
  authorizationCodes,
  authorizationRequests,
  grants,
  grantTools,
  oauthClients,
  tools,
} from "~/db/schema";
import { MESSAGES } from "~/oauth/authorize.server";
import { registerClient } from "~/oauth/clients.server";
import { FORM_MESSAGES } from "~/oauth/consent.server";
import { grantedTools } from "~/oauth/grants.server";
import { mcpResourceUrl } from "~/oauth/metadata.server";
import { createFamily, mintTokens, secretHash, verifyAccessToken } from "~/oauth/tokens.server";
import { action, loader } from "~/routes/authorize";
import { loader as completeLoader } from "~/routes/authorize_.complete";
import { createServer } from "~/servers/servers.server";
import { createTestContext, type TestContext } from "../helpers/context";
import { formRequest, loadContext } from "../helpers/http";

const BASE = "http://localhost:3000";
const REDIRECT = "https://client.example.test/callback";
const LOOPBACK = "http://127.0.0.1/callback";
const APP_LINK = "cursor://anysphere.cursor-retrieval/oauth/callback";

let ctx: TestContext;

function pkce() {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

function toolDef(name: string) {
  return {
    name,
    description: `The ${name} tool`,
    inputSchema: { type: "object" },
    endpoint: { url: `https://tools.example.test/${name}` },
  };
}

async function makeUser(label: string) {
  const user = await createUser(ctx, { email: `${label}-${randomBytes(4).toString("hex")}@example.test`, password: null });
  const setCookie = await createUserSession(ctx, new Request(BASE), user.id);
  const cookie = setCookie.split(";")[0]!;
  const sid = (await sessionStorage(ctx).getSession(cookie)).get("sid")!;
  return { id: user.id, email: user.email, cookie, sid };
}

async function makeServer(ownerId: string, name: string, toolNames: string[]) {
  const { server } = await createServer(ctx, { ownerId, name, tools: toolNames.map(toolDef) });
  const rows = (await ctx.db.select({ id: tools.id, name: tools.name }).from(tools).where(eq(tools.serverId, server.id)));
  return { id: server.id, name, tools: Object.fromEntries(rows.map((t) => [t.name, t.id])) as Record<string, string> };
}

async function makeClient(redirectUris: string[] = [REDIRECT, LOOPBACK], clientName = "Claude Desktop") {
  const { client } = await registerClient(ctx, { client_name: clientName, redirect_uris: redirectUris, token_endpoint_auth_method: "none" });
  return client.id;
}

/** Calls a loader or action the way Remix does; a thrown Response is returned like a returned one. */
async function run(fn: typeof loader | typeof action | typeof completeLoader, request: Request): Promise<Response> {
  try {
    return (await fn({ request, context: loadContext(ctx), params: {} })) as Response;
  } catch (error) {
    if (error instanceof Response) return error;
    throw error;
  }
}

function get(path: string, cookie?: string) {
  return run(loader, new Request(`${BASE}${path}`, { headers: cookie ? { Cookie: cookie } : {} }));
}

type Params = Record<string, string | readonly string[] | undefined>;

function authorizeQuery(params: Params): string {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    for (const item of typeof v === "string" ? [v] : v) query.append(k, item);
  }
  return `/authorize?${query.toString()}`;
}

let challenge: string;
function validParams(clientId: string, serverId: string | null, extra: Params = {}): Params {
  return {
    response_type: "code",
    client_id: clientId,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state: "state-123",
    scope: "mcp:tools",
    resource: serverId ? mcpResourceUrl(ctx, serverId) : undefined,
    ...extra,
  };
}

/** Starts a request and returns its id (the loader stores it and redirects to the consent page). */
async function start(params: Params): Promise<string> {
  const response = await get(authorizeQuery(params));
  expect(response.status).toBe(302);
  const location = response.headers.get("Location")!;
  expect(location).toMatch(/^\/authorize\?request=[\w-]+$/);
  return new URL(location, BASE).searchParams.get("request")!;
}

function post(requestId: string, user: { cookie: string; sid: string } | null, fields: Record<string, string | string[]> = {}, headers: Record<string, string> = {}) {
  const body: Record<string, string | string[]> = {
    request: requestId,
    ...(user ? { csrf: csrfToken(ctx, user.sid, `authorize:${requestId}`) } : {}),
    intent: "approve",
    ...fields,
  };
  return run(action, formRequest(`${BASE}/authorize?request=${requestId}`, body, { ...(user ? { Cookie: user.cookie } : {}), ...headers }));
}

async function pageMessage(response: Response): Promise<string> {
  return ((await response.json()) as { message: string }).message;
}

async function counts() {
  return {
    grants: (await ctx.db.select().from(grants)).length,
    grantTools: (await ctx.db.select().from(grantTools)).length,
    codes: (await ctx.db.select().from(authorizationCodes)).length,
    completed: (await ctx.db.select().from(authorizationRequests)).filter((r) => r.completedAt !== null).length,
    audit: (await ctx.db.select().from(auditEvents)).filter((e) => e.kind.startsWith("authorization.")).length,
  };
}
const NOTHING = { grants: 0, grantTools: 0, codes: 0, completed: 0, audit: 0 };

function expectClientRedirect(response: Response, base: string) {
  expect(response.status).toBe(302);
  const location = new URL(response.headers.get("Location")!);
  expect(`${location.origin}${location.pathname}`).toBe(base);
  return location.searchParams;
}

beforeEach(async () => {
  ctx = createTestContext();
  challenge = pkce().challenge;
});
afterEach(() => ctx.cleanup());

describe("RFC 6749 §4.1.2.1: client and redirect URI errors stay on our page", () => {
  it.each([
    ["client_id is missing", { client_id: undefined }, "This authorization request does not say which application is asking (client_id is missing)."],
    ["client_id is unknown", { client_id: "no-such-client" }, "This application is not registered with Toolgate. Reconnect from the application so that it registers again."],
    ["client_id appears twice", "twice", "This authorization request is malformed (client_id appears more than once)."],
    ["redirect_uri is not registered", { redirect_uri: "https://evil.example.test/callback" }, MESSAGES.redirectInvalid],
    ["redirect_uri differs only by a trailing slash", { redirect_uri: `${REDIRECT}/` }, MESSAGES.redirectInvalid],
    ["redirect_uri is a javascript: URI", { redirect_uri: "javascript:alert(1)" }, MESSAGES.redirectInvalid],
    ["redirect_uri appears twice", { redirect_uri: [REDIRECT, REDIRECT] }, "This authorization request is malformed (redirect_uri appears more than once)."],
    ["redirect_uri is missing and several are registered", { redirect_uri: undefined }, "This authorization request does not say where to return (redirect_uri is missing, and the application registered several)."],
  ] as const)("%s", async (_name, change, message) => {
    const clientId = await makeClient();
    const params = change === "twice" ? validParams(clientId, null, { client_id: [clientId, clientId] }) : validParams(clientId, null, change);
    // Even a request that is bad in other ways too is not redirected.
    params.response_type = "token";
    const response = await get(authorizeQuery(params));
    expect(response.status).toBe(400);
    expect(response.headers.get("Location")).toBeNull();
    expect(response.headers.get("Cache-Control")).toBe("no-store");
    expect(await pageMessage(response)).toBe(message);
    expect((await ctx.db.select().from(authorizationRequests))).toHaveLength(0);
  });

  it("accepts a missing redirect_uri when exactly one is registered, and remembers it was not sent", async () => {
    const clientId = await makeClient([REDIRECT]);
    const id = await start(validParams(clientId, null, { redirect_uri: undefined }));
    const row = (await ctx.db.select().from(authorizationRequests).where(eq(authorizationRequests.id, id)).limit(1))[0]!;
    expect(row.redirectUri).toBe(REDIRECT);
    expect(row.redirectUriProvided).toBe(false);
  });

  it("RFC 8252 §7.3: a loopback redirect matches on any port, and the port used is kept", async () => {
    const clientId = await makeClient();
    const id = await start(validParams(clientId, null, { redirect_uri: "http://127.0.0.1:51234/callback" }));
    const row = (await ctx.db.select().from(authorizationRequests).where(eq(authorizationRequests.id, id)).limit(1))[0]!;
    expect(row.redirectUri).toBe("http://127.0.0.1:51234/callback");
    expect(row.redirectUriProvided).toBe(true);
  });

  it("a redirect URI the client no longer registers is refused on the page and on Approve, without redirecting", async () => {
    const owner = await makeUser("owner");
    const server = await makeServer(owner.id, "Weather", ["forecast"]);
    const clientId = await makeClient();
    const id = await start(validParams(clientId, server.id));
    await ctx.db.update(oauthClients).set({ redirectUris: JSON.stringify(["https://client.example.test/other"]) }).where(eq(oauthClients.id, clientId));
    const page = await get(`/authorize?request=${id}`, owner.cookie);
    expect(page.status).toBe(400);
    expect(await pageMessage(page)).toBe(MESSAGES.redirectInvalid);
    const approve = await post(id, owner, { tool: server.tools.forecast! });
    expect(approve.status).toBe(400);
    expect(approve.headers.get("Location")).toBeNull();
    expect(await pageMessage(approve)).toBe(MESSAGES.redirectInvalid);
    const deny = await post(id, owner, { intent: "deny" });
    expect(deny.headers.get("Location")).toBeNull();
    expect(await pageMessage(deny)).toBe(MESSAGES.redirectInvalid);
    expect(await counts()).toEqual(NOTHING);
  });
});

describe("RFC 6749 §4.1.2.1, RFC 9207 §2: once client and redirect URI are verified, errors go to the client", () => {
  it.each([
    ["response_type is missing", { response_type: undefined }, "invalid_request", "response_type is required"],
    ["response_type is token", { response_type: "token" }, "unsupported_response_type", "Only response_type=code is supported"],
    ["code_challenge is missing (OAuth 2.1 §4.1.1)", { code_challenge: undefined }, "invalid_request", "code_challenge is required (PKCE with S256)"],
    ["code_challenge_method is plain (RFC 9700 §2.1.1)", { code_challenge_method: "plain" }, "invalid_request", "code_challenge_method must be S256"],
    ["code_challenge_method is missing (means plain)", { code_challenge_method: undefined }, "invalid_request", "code_challenge_method must be S256"],
    ["code_challenge is not an S256 value", { code_challenge: "short" }, "invalid_request", "code_challenge must be the base64url SHA-256 of the code verifier (43 characters)"],
    ["scope is unknown (RFC 6749 §3.3)", { scope: "mcp:tools admin" }, "invalid_scope", "The scope admin is not supported; use mcp:tools"],
    ["resource names no server (RFC 8707 §2)", { resource: "http://localhost:3000/mcp/nope" }, "invalid_target", "resource is not the MCP URL of a server on this Toolgate"],
    ["resource is another origin", { resource: "https://other.example.test/mcp/x" }, "invalid_target", "resource is not the MCP URL of a server on this Toolgate"],
    ["two resources", { resource: ["http://localhost:3000/mcp/a", "http://localhost:3000/mcp/b"] }, "invalid_target", "Only one resource may be requested: tokens are issued for one MCP server"],
    ["scope appears twice (OAuth 2.1 §3.1)", { scope: ["mcp:tools", "mcp:tools"] }, "invalid_request", "The scope parameter appears more than once"],
    ["response_type appears twice", { response_type: ["code", "code"] }, "invalid_request", "The response_type parameter appears more than once"],
    ["a request object is sent (RFC 9101)", { request: "eyJhbGciOiJub25lIn0.e30." }, "request_not_supported", "Request objects are not supported"],
    ["a request_uri is sent", { request_uri: "urn:example:1" }, "request_uri_not_supported", "request_uri is not supported"],
  ] as const)("%s", async (_name, change, error, description) => {
    const clientId = await makeClient();
    const response = await get(authorizeQuery(validParams(clientId, null, change)));
    const params = expectClientRedirect(response, REDIRECT);
    expect(params.get("error")).toBe(error);
    expect(params.get("error_description")).toBe(description);
    expect(params.get("state")).toBe("state-123");
    expect(params.get("iss")).toBe("http://localhost:3000");
    expect(params.has("code")).toBe(false);
    expect((await ctx.db.select().from(authorizationRequests))).toHaveLength(0);
  });

  it("a repeated state is not echoed (the client cannot tell which one came back)", async () => {
    const clientId = await makeClient();
    const params = expectClientRedirect(await get(authorizeQuery(validParams(clientId, null, { state: ["a", "b"] }))), REDIRECT);
    expect(params.get("error")).toBe("invalid_request");
    expect(params.get("error_description")).toBe("The state parameter appears more than once");
    expect(params.has("state")).toBe(false);
    expect(params.get("iss")).toBe("http://localhost:3000");
  });

  it("the error goes to the loopback port the client used, keeping the registered query", async () => {
    const clientId = await makeClient(["http://localhost/cb?tenant=1"]);
    const response = await get(authorizeQuery(validParams(clientId, null, { redirect_uri: "http://localhost:8123/cb?tenant=1", scope: "nope" })));
    const params = expectClientRedirect(response, "http://localhost:8123/cb");
    expect(params.get("tenant")).toBe("1");
    expect(params.get("error")).toBe("invalid_scope");
  });
});

describe("the stored request and the consent page", () => {
  it("stores the validated request and moves the browser to a URL without state", async () => {
    const owner = await makeUser("owner");
    const server = await makeServer(owner.id, "Weather", ["forecast"]);
    const clientId = await makeClient();
    const response = await get(authorizeQuery(validParams(clientId, server.id, { scope: undefined })));
    expect(response.status).toBe(302);
    expect(response.headers.get("Cache-Control")).toBe("no-store");
    expect(response.headers.get("Referrer-Policy")).toBe("no-referrer");
    const location = response.headers.get("Location")!;
    expect(location).not.toContain("state");
    const id = new URL(location, BASE).searchParams.get("request")!;
    const row = (await ctx.db.select().from(authorizationRequests).where(eq(authorizationRequests.id, id)).limit(1))[0]!;
    expect(row).toMatchObject({
      clientId,
      redirectUri: REDIRECT,
      redirectUriProvided: true,
      state: "state-123",
      codeChallenge: challenge,
      scope: "mcp:tools",
      resource: mcpResourceUrl(ctx, server.id),
      serverId: server.id,
      completedAt: null,
    });
    expect(row.expiresAt - row.createdAt).toBe(ctx.config.authRequestTtlSeconds * 1000);
  });

  it("sends a signed-out browser to sign in, coming back to the same request", async () => {
    const owner = await makeUser("owner");
    const server = await makeServer(owner.id, "Weather", ["forecast"]);
    const id = await start(validParams(await makeClient(), server.id));
    const response = await get(`/authorize?request=${id}`);
    expect(response.status).toBe(302);
    expect(response.headers.get("Location")).toBe(`/sign-in?returnTo=${encodeURIComponent(`/authorize?request=${id}`)}`);
  });

  it("shows the application, its redirect host, the server, every tool and the scope, with a CSRF token for this request", async () => {
    const owner = await makeUser("owner");
    const server = await makeServer(owner.id, "Weather", ["forecast", "alerts"]);
    const id = await start(validParams(await makeClient(), server.id));
    const response = await get(`/authorize?request=${id}`, owner.cookie);
    expect(response.status).toBe(200);
    expect(response.headers.get("Cache-Control")).toBe("no-store");
    // same-origin, not no-referrer: see docs/decisions/005-consent-csrf.md.
    expect(response.headers.get("Referrer-Policy")).toBe("same-origin");
    const data = await response.json();
    expect(data).toEqual({
      requestId: id,
      client: { name: "Claude Desktop", kind: "registered", redirectHost: "client.example.test", redirectPort: null, redirectKind: "web", clientIdHost: null, logoUrl: null },
      scope: "mcp:tools",
      choices: null,
      server: { id: server.id, name: "Weather", description: "" },
      tools: [
        // Tools without annotations may change or delete data (MCP's defaults; decision 045).
        { id: server.tools.alerts, name: "alerts", description: "The alerts tool", effect: "deletes" },
        { id: server.tools.forecast, name: "forecast", description: "The forecast tool", effect: "deletes" },
      ],
      account: owner.email,
      csrf: csrfToken(ctx, owner.sid, `authorize:${id}`),
    });
  });

  it.each([
    ["a loopback redirect", "http://127.0.0.1:40001/callback", "loopback", "127.0.0.1:40001"],
    ["an app link", APP_LINK, "app", "cursor:"],
  ] as const)("flags %s", async (_name, redirectUri, kind, host) => {
    const owner = await makeUser("owner");
    const server = await makeServer(owner.id, "Weather", ["forecast"]);
    const clientId = await makeClient([LOOPBACK, APP_LINK]);
    const id = await start(validParams(clientId, server.id, { redirect_uri: redirectUri }));
    const data = await (await get(`/authorize?request=${id}`, owner.cookie)).json();
    expect(data.client).toMatchObject({ redirectKind: kind, redirectHost: host, kind: "registered" });
  });

  it(`an expired request: "${MESSAGES.expired}"`, async () => {
    const owner = await makeUser("owner");
    const server = await makeServer(owner.id, "Weather", ["forecast"]);
    const id = await start(validParams(await makeClient(), server.id));
    ctx.advance(ctx.config.authRequestTtlSeconds * 1000);
    const response = await get(`/authorize?request=${id}`, owner.cookie);
    expect(response.status).toBe(400);
    expect(await pageMessage(response)).toBe(MESSAGES.expired);
    const unknown = await get(`/authorize?request=AAAAAAAAAAAAAAAAAAAAAA`, owner.cookie);
    expect(await pageMessage(unknown)).toBe(MESSAGES.expired);
  });

  it(`a server of another user: "${MESSAGES.noAccess}"`, async () => {
    const owner = await makeUser("owner");
    const other = await makeUser("other");
    const server = await makeServer(owner.id, "Weather", ["forecast"]);
    const id = await start(validParams(await makeClient(), server.id));
    const response = await get(`/authorize?request=${id}`, other.cookie);
    expect(response.status).toBe(403);
    expect(await pageMessage(response)).toBe(MESSAGES.noAccess);
  });

  it("without a resource, the user chooses among their own servers", async () => {
    const owner = await makeUser("owner");
    const other = await makeUser("other");
    const alpha = await makeServer(owner.id, "Alpha", ["a1"]);
    const beta = await makeServer(owner.id, "Beta", ["b1", "b2"]);
    const foreign = await makeServer(other.id, "Foreign", ["f1"]);
    const id = await start(validParams(await makeClient(), null));
    const first = await (await get(`/authorize?request=${id}`, owner.cookie)).json();
    expect(first.choices).toEqual([
      { id: alpha.id, name: "Alpha" },
      { id: beta.id, name: "Beta" },
    ]);
    expect(first.server.id).toBe(alpha.id);
    expect(first.tools.map((t: { name: string }) => t.name)).toEqual(["a1"]);
    const chosen = await (await get(`/authorize?request=${id}&server=${beta.id}`, owner.cookie)).json();
    expect(chosen.server.id).toBe(beta.id);
    expect(chosen.tools.map((t: { name: string }) => t.name)).toEqual(["b1", "b2"]);
    const response = await get(`/authorize?request=${id}&server=${foreign.id}`, owner.cookie);
    expect(response.status).toBe(403);
    expect(await pageMessage(response)).toBe(MESSAGES.noAccess);
  });

  it("the origin as resource (path-less RFC 9728 metadata) also lets the user choose", async () => {
    const id = await start(validParams(await makeClient(), null, { resource: "http://localhost:3000" }));
    const row = (await ctx.db.select().from(authorizationRequests).where(eq(authorizationRequests.id, id)).limit(1))[0]!;
    expect(row.resource).toBeNull();
    expect(row.serverId).toBeNull();
  });
});

describe("Approve (OAuth 2.1 §4.1.2, RFC 9207 §2, per-tool consent)", () => {
  it("grants the ticked tools, issues a code bound to everything, and redirects with code, state and iss", async () => {
    const owner = await makeUser("owner");
    const server = await makeServer(owner.id, "Weather", ["forecast", "alerts", "radar"]);
    const clientId = await makeClient();
    const id = await start(validParams(clientId, server.id));
    const response = await post(id, owner, { tool: [server.tools.forecast!, server.tools.radar!] });
    expect(response.status).toBe(303);
    expect(response.headers.get("Cache-Control")).toBe("no-store");
    expect(response.headers.get("Referrer-Policy")).toBe("no-referrer");
    const location = new URL(response.headers.get("Location")!);
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT);
    expect([...location.searchParams.keys()].sort()).toEqual(["code", "iss", "state"]);
    expect(location.searchParams.get("state")).toBe("state-123");
    expect(location.searchParams.get("iss")).toBe("http://localhost:3000");
    const code = location.searchParams.get("code")!;
    expect(code).toMatch(/^tgc_/);

    const row = (await ctx.db.select().from(authorizationCodes).limit(1))[0]!;
    const grant = (await ctx.db.select().from(grants).limit(1))[0]!;
    expect(row).toEqual({
      codeHash: secretHash(code),
      grantId: grant.id,
      clientId,
      userId: owner.id,
      serverId: server.id,
      redirectUri: REDIRECT,
      redirectUriProvided: true,
      codeChallenge: challenge,
      scope: "mcp:tools",
      resource: mcpResourceUrl(ctx, server.id),
      createdAt: ctx.now(),
      expiresAt: ctx.now() + 60_000,
      usedAt: null,
      familyId: null,
    });
    expect(grant).toMatchObject({ userId: owner.id, clientId, serverId: server.id, scope: "mcp:tools", revokedAt: null });
    expect((await grantedTools(ctx, grant.id)).map((t) => t.name)).toEqual(["forecast", "radar"]);
    const request = (await ctx.db.select().from(authorizationRequests).where(eq(authorizationRequests.id, id)).limit(1))[0]!;
    expect(request.completedAt).toBe(ctx.now());
    const audit = (await ctx.db.select().from(auditEvents).where(eq(auditEvents.kind, "authorization.approved")));
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ serverId: server.id, userId: owner.id, clientId, grantId: grant.id, actor: owner.id });
    expect(JSON.parse(audit[0]!.detail)).toEqual({ tools: ["forecast", "radar"], scope: "mcp:tools", grant: "created" });
  });

  it.each([
    ["no tool at all", () => [], FORM_MESSAGES.noTools],
    ["an unknown tool id", (s: { tools: Record<string, string> }) => [s.tools.forecast!, "no-such-tool"], FORM_MESSAGES.foreignTools],
    ["a tool of another server", (_s: unknown, f: { tools: Record<string, string> }) => [f.tools.secret!], FORM_MESSAGES.foreignTools],
  ] as const)("refuses a tampered tool list (%s) and stores nothing", async (_name, pick, message) => {
    const owner = await makeUser("owner");
    const server = await makeServer(owner.id, "Weather", ["forecast"]);
    const foreign = await makeServer(owner.id, "Vault", ["secret"]);
    const id = await start(validParams(await makeClient(), server.id));
    const response = await post(id, owner, { tool: (pick as (s: typeof server, f: typeof foreign) => string[])(server, foreign) });
    expect(response.status).toBe(400);
    expect(response.headers.get("Location")).toBeNull();
    // The ticks come back as they were sent, so the page shows them as the person left them.
    expect(await response.json()).toEqual({ formError: message, toolIds: (pick as (s: typeof server, f: typeof foreign) => string[])(server, foreign) });
    expect(await counts()).toEqual(NOTHING);
    // The request is still pending: the user can fix the form and approve.
    const retry = await post(id, owner, { tool: server.tools.forecast! });
    expect(retry.status).toBe(303);
  });

  it(`a replayed POST after completion: "${MESSAGES.expired}", and still one code`, async () => {
    const owner = await makeUser("owner");
    const server = await makeServer(owner.id, "Weather", ["forecast"]);
    const id = await start(validParams(await makeClient(), server.id));
    expect((await post(id, owner, { tool: server.tools.forecast! })).status).toBe(303);
    const replay = await post(id, owner, { tool: server.tools.forecast! });
    expect(replay.status).toBe(400);
    expect(await pageMessage(replay)).toBe(MESSAGES.expired);
    const deny = await post(id, owner, { intent: "deny" });
    expect(await pageMessage(deny)).toBe(MESSAGES.expired);
    expect(await counts()).toMatchObject({ grants: 1, codes: 1, completed: 1, audit: 1 });
  });

  it(`a POST after the request expired: "${MESSAGES.expired}"`, async () => {
    const owner = await makeUser("owner");
    const server = await makeServer(owner.id, "Weather", ["forecast"]);
    const id = await start(validParams(await makeClient(), server.id));
    ctx.advance(ctx.config.authRequestTtlSeconds * 1000 + 1);
    const response = await post(id, owner, { tool: server.tools.forecast! });
    expect(await pageMessage(response)).toBe(MESSAGES.expired);
    expect(await counts()).toEqual(NOTHING);
  });

  it("a second authorization of the same client updates the grant's tools and keeps the first device's tokens", async () => {
    const owner = await makeUser("owner");
    const server = await makeServer(owner.id, "Weather", ["forecast", "alerts"]);
    const clientId = await makeClient();
    const first = await start(validParams(clientId, server.id));
    await post(first, owner, { tool: server.tools.forecast! });
    const grant = (await ctx.db.select().from(grants).limit(1))[0]!;
    const familyId = await createFamily(ctx, ctx.db, grant.id);
    const firstDevice = await mintTokens(ctx, ctx.db, { grantId: grant.id, familyId, clientId, userId: owner.id, serverId: server.id, scope: "mcp:tools" });

    challenge = pkce().challenge;
    const second = await start(validParams(clientId, server.id));
    expect((await post(second, owner, { tool: [server.tools.forecast!, server.tools.alerts!] })).status).toBe(303);

    const all = (await ctx.db.select().from(grants));
    expect(all).toHaveLength(1);
    expect((await grantedTools(ctx, grant.id)).map((t) => t.name)).toEqual(["alerts", "forecast"]);
    expect(await verifyAccessToken(ctx, firstDevice.accessToken)).not.toBeNull();
    const codes = (await ctx.db.select().from(authorizationCodes).where(eq(authorizationCodes.grantId, grant.id)));
    expect(codes).toHaveLength(2);
    const audit = (await ctx.db.select().from(auditEvents).where(eq(auditEvents.kind, "authorization.approved")));
    expect(JSON.parse(audit[1]!.detail)).toMatchObject({ tools: ["alerts", "forecast"], grant: "updated" });
  });

  it("without a resource, the code is for the server the user chose", async () => {
    const owner = await makeUser("owner");
    await makeServer(owner.id, "Alpha", ["a1"]);
    const beta = await makeServer(owner.id, "Beta", ["b1"]);
    const id = await start(validParams(await makeClient(), null));
    const response = await post(id, owner, { server: beta.id, tool: beta.tools.b1! });
    expect(response.status).toBe(303);
    const code = (await ctx.db.select().from(authorizationCodes).limit(1))[0]!;
    expect(code.serverId).toBe(beta.id);
    expect(code.resource).toBe(mcpResourceUrl(ctx, beta.id));
    expect((await ctx.db.select().from(authorizationRequests).where(eq(authorizationRequests.id, id)).limit(1))[0]!.serverId).toBe(beta.id);
  });

  it("without a resource, choosing a server of another user is refused", async () => {
    const owner = await makeUser("owner");
    const other = await makeUser("other");
    await makeServer(owner.id, "Alpha", ["a1"]);
    const foreign = await makeServer(other.id, "Foreign", ["f1"]);
    const id = await start(validParams(await makeClient(), null));
    const response = await post(id, owner, { server: foreign.id, tool: foreign.tools.f1! });
    expect(response.status).toBe(403);
    expect(await pageMessage(response)).toBe(MESSAGES.noAccess);
    const none = await post(id, owner, { tool: foreign.tools.f1! });
    expect(await none.json()).toMatchObject({ formError: FORM_MESSAGES.noServer });
    expect(await counts()).toEqual(NOTHING);
  });

  it("an app-link redirect lands on Authorization Complete, which hands over code, state and iss", async () => {
    const owner = await makeUser("owner");
    const server = await makeServer(owner.id, "Weather", ["forecast"]);
    const id = await start(validParams(await makeClient([APP_LINK], "Cursor"), server.id, { redirect_uri: APP_LINK }));
    const response = await post(id, owner, { tool: server.tools.forecast! });
    expect(response.status).toBe(303);
    expect(response.headers.get("Location")).toBe("/authorize/complete");
    const cookie = response.headers.get("Set-Cookie")!;
    expect(cookie).toMatch(/Path=\/authorize/);
    expect(cookie).toMatch(/HttpOnly/);
    const page = await run(completeLoader, new Request(`${BASE}/authorize/complete`, { headers: { Cookie: cookie.split(";")[0]! } }));
    expect(page.headers.get("Cache-Control")).toBe("no-store");
    const { completion } = await page.json();
    expect(completion).toMatchObject({ clientName: "Cursor", serverName: "Weather", denied: false });
    const location = new URL(completion.location);
    expect(`${location.protocol}//${location.host}${location.pathname}`).toBe(APP_LINK);
    expect(secretHash(location.searchParams.get("code")!)).toBe((await ctx.db.select().from(authorizationCodes).limit(1))[0]!.codeHash);
    expect(location.searchParams.get("state")).toBe("state-123");
    expect(location.searchParams.get("iss")).toBe("http://localhost:3000");
    const empty = await run(completeLoader, new Request(`${BASE}/authorize/complete`));
    expect((await empty.json()).completion).toBeNull();
  });
});

describe("Deny (RFC 6749 §4.1.2.1 access_denied)", () => {
  it("tells the client access was denied, with state and iss, and grants nothing", async () => {
    const owner = await makeUser("owner");
    const server = await makeServer(owner.id, "Weather", ["forecast"]);
    const clientId = await makeClient();
    const id = await start(validParams(clientId, server.id));
    const response = await post(id, owner, { intent: "deny", tool: server.tools.forecast! });
    expect(response.status).toBe(303);
    const location = new URL(response.headers.get("Location")!);
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT);
    expect(Object.fromEntries(location.searchParams)).toEqual({
      error: "access_denied",
      error_description: "The user denied access",
      state: "state-123",
      iss: "http://localhost:3000",
    });
    expect(await counts()).toEqual({ ...NOTHING, completed: 1, audit: 1 });
    const audit = (await ctx.db.select().from(auditEvents).where(and(eq(auditEvents.kind, "authorization.denied"), eq(auditEvents.clientId, clientId))));
    expect(audit).toHaveLength(1);
  });
});

describe("consent CSRF and session (docs/decisions/005-consent-csrf.md)", () => {
  async function pending() {
    const owner = await makeUser("owner");
    const server = await makeServer(owner.id, "Weather", ["forecast"]);
    const id = await start(validParams(await makeClient(), server.id));
    return { owner, server, id };
  }

  it(`no session (signed out in another tab): "${MESSAGES.signedOut}" and nothing stored`, async () => {
    const { server, id } = await pending();
    const response = await post(id, null, { tool: server.tools.forecast! });
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({
      message: MESSAGES.signedOut,
      signInHref: `/sign-in?returnTo=${encodeURIComponent(`/authorize?request=${id}`)}`,
    });
    expect(await counts()).toEqual(NOTHING);
  });

  it(`an expired session: "${MESSAGES.signedOut}"`, async () => {
    const { owner, server, id } = await pending();
    ctx.advance(ctx.config.sessionTtlSeconds * 1000 + 1);
    const response = await post(id, owner, { tool: server.tools.forecast! });
    expect(response.status).toBe(401);
    expect(await pageMessage(response)).toBe(MESSAGES.signedOut);
    expect(await counts()).toEqual(NOTHING);
  });

  it.each([
    ["missing", () => ({ csrf: undefined })],
    ["empty", () => ({ csrf: "" })],
    ["of another session", async () => ({ csrf: csrfToken(ctx, (await makeUser("x")).sid, "authorize:ID") })],
    ["of another request", () => ({ csrf: "ANOTHER" })],
    ["of a general form", () => ({ csrf: "GENERAL" })],
    ["sent twice", () => ({ csrf: ["OWN", "OWN"] })],
  ] as const)("a CSRF token that is %s is refused with 403 and nothing stored", async (_name, make) => {
    const { owner, server, id } = await pending();
    const other = await start(validParams(await makeClient(), server.id));
    const made = (await make()) as { csrf: string | string[] | undefined };
    const own = csrfToken(ctx, owner.sid, `authorize:${id}`);
    const replace = (v: string) =>
      v === "ANOTHER" ? csrfToken(ctx, owner.sid, `authorize:${other}`) : v === "GENERAL" ? csrfToken(ctx, owner.sid) : v === "OWN" ? own : v.replace("authorize:ID", `authorize:${id}`);
    const body = new URLSearchParams({ request: id, intent: "approve", tool: server.tools.forecast! });
    if (made.csrf !== undefined) for (const v of Array.isArray(made.csrf) ? made.csrf : [made.csrf]) body.append("csrf", replace(v));
    const response = await run(
      action,
      new Request(`${BASE}/authorize?request=${id}`, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded", Cookie: owner.cookie },
        body,
      }),
    );
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({
      message: "This form has expired or did not come from this page. Reload the page and try again.",
      reloadHref: `/authorize?request=${id}`,
    });
    expect(await counts()).toEqual(NOTHING);
  });

  it("a post from another origin is refused even with the right token", async () => {
    const { owner, server, id } = await pending();
    const response = await post(id, owner, { tool: server.tools.forecast! }, { Origin: "https://evil.example.test" });
    expect(response.status).toBe(403);
    expect(await counts()).toEqual(NOTHING);
  });

  it(`another user's request id, with that user's own valid token: "${MESSAGES.noAccess}"`, async () => {
    const { server, id } = await pending();
    const intruder = await makeUser("intruder");
    const approve = await post(id, intruder, { tool: server.tools.forecast! });
    expect(approve.status).toBe(403);
    expect(await pageMessage(approve)).toBe(MESSAGES.noAccess);
    const deny = await post(id, intruder, { intent: "deny" });
    expect(deny.status).toBe(403);
    expect(await pageMessage(deny)).toBe(MESSAGES.noAccess);
    expect(await counts()).toEqual(NOTHING);
  });
});
