/** POST /register (RFC 7591) and the idle-client cleanup. */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { eq } from "drizzle-orm";
import type { RunningServer } from "~/http/server.server";
import { accessTokens, auditEvents, authorizationCodes, authorizationRequests, oauthClients, refreshTokens, tokenFamilies } from "~/db/schema";
import { runOAuthCleanup } from "~/oauth/cleanup.server";
import { createFamily, mintTokens, secretHash } from "~/oauth/tokens.server";
import { createTestContext, type TestContext } from "../helpers/context";
import { startProtocolServer } from "../helpers/http";
import { issueCode, makeClient, makeUserAndServer, REDIRECT } from "./oauth-fixtures";

let ctx: TestContext;
let server: RunningServer;

beforeEach(async () => {
  ctx = createTestContext();
  server = await startProtocolServer(ctx);
});
afterEach(async () => {
  await server.close(100);
  ctx.cleanup();
});

async function register(body: unknown, contentType = "application/json") {
  const res = await fetch(server.url + "/register", {
    method: "POST",
    headers: { "Content-Type": contentType },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

describe("RFC 7591 §3.2.1 successful registration", () => {
  it("registers a public client and answers 201 with its metadata", async () => {
    const res = await register({
      client_name: "Claude Desktop",
      redirect_uris: ["http://127.0.0.1:33418/callback", "cursor://anysphere.cursor-retrieval/oauth/callback"],
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      client_uri: "https://claude.ai",
      logo_uri: "https://claude.ai/logo.png",
      software_id: "claude-desktop",
      software_version: "1.2.3",
      application_type: "native",
      scope: "mcp:tools",
      unknown_field: "ignored",
    });
    expect(res.status).toBe(201);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.body).toEqual({
      client_id: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
      client_id_issued_at: Math.floor(ctx.now() / 1000),
      client_name: "Claude Desktop",
      redirect_uris: ["http://127.0.0.1:33418/callback", "cursor://anysphere.cursor-retrieval/oauth/callback"],
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      client_uri: "https://claude.ai",
      logo_uri: "https://claude.ai/logo.png",
      software_id: "claude-desktop",
      software_version: "1.2.3",
      application_type: "native",
      scope: "mcp:tools",
    });
    const row = (await ctx.db.select().from(oauthClients).where(eq(oauthClients.id, res.body.client_id as string)).limit(1))[0]!;
    expect(row).toMatchObject({ kind: "registered", secretHash: null, clientName: "Claude Desktop", tokenEndpointAuthMethod: "none" });
    const audit = (await ctx.db.select().from(auditEvents).where(eq(auditEvents.kind, "client.registered")));
    expect(audit).toHaveLength(1);
    expect(audit[0]!.clientId).toBe(res.body.client_id);
  });

  it("registers a confidential client: the secret is shown once and stored only as a hash", async () => {
    const res = await register({ client_name: "Server app", redirect_uris: [REDIRECT], token_endpoint_auth_method: "client_secret_post" });
    expect(res.status).toBe(201);
    expect(res.body.client_secret).toMatch(/^tgs_[A-Za-z0-9_-]{43}$/);
    expect(res.body.client_secret_expires_at).toBe(0);
    const row = (await ctx.db.select().from(oauthClients).where(eq(oauthClients.id, res.body.client_id as string)).limit(1))[0]!;
    expect(row.secretHash).toBe(secretHash(res.body.client_secret as string));
    expect(JSON.stringify(row)).not.toContain(res.body.client_secret as string);
    const audit = (await ctx.db.select().from(auditEvents));
    expect(JSON.stringify(audit)).not.toContain(res.body.client_secret as string);
  });

  it("defaults token_endpoint_auth_method to client_secret_basic (RFC 7591 §2)", async () => {
    const res = await register({ client_name: "Defaults", redirect_uris: [REDIRECT] });
    expect(res.status).toBe(201);
    expect(res.body.token_endpoint_auth_method).toBe("client_secret_basic");
    expect(res.body.client_secret).toMatch(/^tgs_/);
    expect(res.body.grant_types).toEqual(["authorization_code", "refresh_token"]);
    expect(res.body.response_types).toEqual(["code"]);
    expect(res.body.scope).toBe("mcp:tools");
  });

  it("accepts a registration without client_name and replaces unknown scopes", async () => {
    const res = await register({ redirect_uris: [REDIRECT], token_endpoint_auth_method: "none", scope: "openid profile" });
    expect(res.status).toBe(201);
    expect(res.body.client_name).toBeUndefined();
    expect(res.body.scope).toBe("mcp:tools");
  });
});

describe("RFC 7591 §3.2.2 invalid_redirect_uri", () => {
  const cases: Array<[unknown, string]> = [
    [undefined, "redirect_uris is required"],
    [[], "redirect_uris: at least one redirect URI is required"],
    [["javascript:alert(1)"], "The javascript scheme is not allowed in a redirect URI"],
    [["data:text/html,hi"], "The data scheme is not allowed in a redirect URI"],
    [["file:///etc/passwd"], "The file scheme is not allowed in a redirect URI"],
    [["vbscript:msgbox"], "The vbscript scheme is not allowed in a redirect URI"],
    [["http://example.com/cb"], "An http redirect URI is only allowed for loopback addresses (localhost, 127.0.0.1, [::1]); use https"],
    [["https://example.com/cb#frag"], "A redirect URI must not contain a fragment"],
    [["https://*.example.com/cb"], "A redirect URI must not contain wildcards"],
    [["https://user:pw@example.com/cb"], "A redirect URI must not contain user information"],
    [["/relative/cb"], "A redirect URI must be an absolute URI"],
    [["https://example.com/ cb"], "A redirect URI must not contain whitespace or control characters"],
  ];
  for (const [uris, description] of cases) {
    it(`refuses ${JSON.stringify(uris)}`, async () => {
      const res = await register({ client_name: "Bad", redirect_uris: uris, token_endpoint_auth_method: "none" });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: "invalid_redirect_uri", error_description: description });
    });
  }
});

describe("MCP 2026-07-28: application_type decides the redirect URI rules (OpenID Connect Registration §2)", () => {
  const refused: Array<[string, string[], string]> = [
    ["web", ["http://127.0.0.1:4567/cb"], "A web application (application_type web) must use https redirect URIs"],
    ["web", ["http://localhost/cb"], "A web application (application_type web) must use https redirect URIs"],
    ["web", ["cursor://anysphere.cursor-retrieval/oauth/callback"], "A web application (application_type web) must use https redirect URIs"],
    ["web", ["https://app.example.com/cb", "myapp:/cb"], "A web application (application_type web) must use https redirect URIs"],
    ["native", ["https://app.example.com/cb"], "A native application (application_type native) must use a loopback http or a private-use scheme redirect URI"],
    ["native", ["HTTPS://app.example.com/cb"], "A native application (application_type native) must use a loopback http or a private-use scheme redirect URI"],
    ["native", ["http://example.com/cb"], "An http redirect URI is only allowed for loopback addresses (localhost, 127.0.0.1, [::1]); use https"],
    ["native", ["javascript:alert(1)"], "The javascript scheme is not allowed in a redirect URI"],
  ];
  for (const [applicationType, uris, description] of refused) {
    it(`refuses ${applicationType} with ${JSON.stringify(uris)}`, async () => {
      const res = await register({ client_name: "Typed", application_type: applicationType, redirect_uris: uris, token_endpoint_auth_method: "none" });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: "invalid_redirect_uri", error_description: description });
    });
  }
  const accepted: Array<[string | undefined, string[]]> = [
    ["web", ["https://app.example.com/cb"]],
    ["native", ["http://127.0.0.1:4567/cb", "http://[::1]/cb", "http://localhost:9/cb"]],
    ["native", ["cursor://anysphere.cursor-retrieval/oauth/callback", "com.example.app:/oauth"]],
    // Without application_type (the 2025 revisions) both kinds stay accepted.
    [undefined, ["https://app.example.com/cb", "http://127.0.0.1:4567/cb", "myapp:/cb"]],
  ];
  for (const [applicationType, uris] of accepted) {
    it(`accepts ${applicationType ?? "no application_type"} with ${JSON.stringify(uris)}`, async () => {
      const res = await register({ client_name: "Typed", ...(applicationType && { application_type: applicationType }), redirect_uris: uris, token_endpoint_auth_method: "none" });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      if (applicationType) expect(res.body.application_type).toBe(applicationType);
    });
  }
});

describe("RFC 7591 §3.2.2 invalid_client_metadata", () => {
  const base = { client_name: "App", redirect_uris: [REDIRECT], token_endpoint_auth_method: "none" };
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ client_name: "" }, "client_name: String must contain at least 1 character(s)"],
    [{ client_name: "x".repeat(101) }, "client_name: String must contain at most 100 character(s)"],
    [{ client_name: "Evil\u0000App" }, "client_name: must not contain control characters"],
    [{ client_name: 42 }, "client_name: Expected string, received number"],
    [{ client_uri: "javascript:alert(1)" }, "client_uri must be an https URL"],
    [{ logo_uri: "http://example.com/logo.png" }, "logo_uri must be an https URL"],
    [{ token_endpoint_auth_method: "private_key_jwt" }, "token_endpoint_auth_method: private_key_jwt is not supported"],
    [{ grant_types: ["implicit"] }, "grant_types: implicit is not supported"],
    [{ grant_types: ["refresh_token"] }, "grant_types must include authorization_code"],
    [{ response_types: ["token"] }, "response_types: token is not supported"],
    [{ application_type: "desktop" }, "application_type: Invalid enum value. Expected 'web' | 'native', received 'desktop'"],
  ];
  for (const [patch, description] of cases) {
    it(`refuses ${JSON.stringify(patch)}`, async () => {
      const res = await register({ ...base, ...patch });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: "invalid_client_metadata", error_description: description });
    });
  }

  it("refuses a body that is not a JSON object", async () => {
    expect((await register("[1,2]")).body).toEqual({ error: "invalid_client_metadata", error_description: "The client metadata must be a JSON object" });
    expect((await register("{not json")).body).toEqual({ error: "invalid_client_metadata", error_description: "The request body is not valid JSON" });
  });

  it("refuses another content type", async () => {
    const res = await register("client_name=x", "application/x-www-form-urlencoded");
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: "invalid_client_metadata", error_description: "The request body must be application/json" });
  });

  it("refuses a body larger than 64 KB", async () => {
    const res = await register({ ...base, padding: "x".repeat(70 * 1024) });
    expect(res.status).toBe(413);
    expect(res.body).toEqual({ error: "invalid_client_metadata", error_description: "The request body must be at most 65536 bytes" });
    expect((await ctx.db.select().from(oauthClients))).toHaveLength(0);
  });
});

describe("periodic cleanup", () => {
  const DAY = 24 * 3600 * 1000;

  it("removes registered clients unused for clientIdleDays that hold no grant, and expired leftovers", async () => {
    const idle = (await makeClient(ctx)).clientId;
    const used = (await makeClient(ctx)).clientId;
    const granted = (await makeClient(ctx)).clientId;
    const world = await makeUserAndServer(ctx);
    await issueCode(ctx, { clientId: granted, ...world });
    const now = ctx.now();
    await ctx.db.insert(authorizationRequests).values({
      id: "req-1", clientId: idle, redirectUri: REDIRECT, redirectUriProvided: true, codeChallenge: "c", scope: "mcp:tools",
      createdAt: now, expiresAt: now + 600_000,
    });

    ctx.advance(29 * DAY);
    await ctx.db.update(oauthClients).set({ lastUsedAt: ctx.now() }).where(eq(oauthClients.id, used));
    ctx.advance(2 * DAY);
    const report = await runOAuthCleanup(ctx);
    expect(report).toEqual({ clients: 1, authorizationRequests: 1, authorizationCodes: 1, accessTokens: 0, refreshTokens: 0, tokenFamilies: 0, sessions: 0, clientLogos: 0, shownOnceSecrets: 0, replayKeys: 0, rateLimitBuckets: 0 });
    const left = (await ctx.db.select({ id: oauthClients.id }).from(oauthClients)).map((r) => r.id).sort();
    expect(left).toEqual([used, granted].sort());
    expect((await ctx.db.select().from(authorizationCodes))).toHaveLength(0);
    expect((await ctx.db.select().from(accessTokens))).toHaveLength(0);
  });

  it("purges tokens a day after they expire, then their empty families; live ones stay", async () => {
    const clientId = (await makeClient(ctx)).clientId;
    const world = await makeUserAndServer(ctx);
    const { grantId } = await issueCode(ctx, { clientId, ...world });
    const mint = () =>
      ctx.store.transaction(async (tx) => {
        const familyId = await createFamily(ctx, tx, grantId);
        await mintTokens(ctx, tx, { grantId, familyId, clientId, userId: world.userId, serverId: world.serverId, scope: "mcp:tools" });
        return familyId;
      });
    const old = await mint();
    // Refresh tokens live 30 days; a day after that they are purged.
    ctx.advance(31 * DAY + 1);
    const fresh = await mint();
    const report = await runOAuthCleanup(ctx);
    expect(report).toMatchObject({ accessTokens: 1, refreshTokens: 1, tokenFamilies: 1, clients: 0 });
    const families = (await ctx.db.select({ id: tokenFamilies.id }).from(tokenFamilies)).map((f) => f.id);
    expect(families).toEqual([fresh]);
    expect(families).not.toContain(old);
    expect((await ctx.db.select().from(refreshTokens))).toHaveLength(1);
  });
});
