/**
 * POST /token, authorization_code grant: black-box HTTP tests, grouped by the rule they prove.
 * Codes are written the way the consent page's Approve writes them.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { eq } from "drizzle-orm";
import type { RunningServer } from "~/http/server.server";
import { accessTokens, auditEvents, authorizationCodes, grants, oauthClients } from "~/db/schema";
import { resolveClient } from "~/oauth/clients.server";
import { verifyAccessToken } from "~/oauth/tokens.server";
import { createTestContext, type TestContext } from "../helpers/context";
import { startProtocolServer } from "../helpers/http";
import { basic, issueCode, makeClient, makeUserAndServer, postForm, REDIRECT } from "./oauth-fixtures";

let ctx: TestContext;
let server: RunningServer;
let world: Awaited<ReturnType<typeof makeUserAndServer>>;

beforeEach(async () => {
  ctx = createTestContext();
  server = await startProtocolServer(ctx);
  world = await makeUserAndServer(ctx);
});
afterEach(async () => {
  await server.close(100);
  ctx.cleanup();
});

function codeRequest(clientId: string, code: string, verifier: string, extra: Record<string, string | string[]> = {}) {
  return postForm(server.url, "/token", {
    grant_type: "authorization_code",
    client_id: clientId,
    code,
    code_verifier: verifier,
    redirect_uri: REDIRECT,
    ...extra,
  });
}

describe("RFC 6749 §4.1.3 / §5.1 successful code exchange", () => {
  it("returns a Bearer token pair with expires_in and scope, never cached", async () => {
    const { clientId } = await makeClient(ctx);
    const { code, verifier, grantId } = await issueCode(ctx, { clientId, ...world });
    const res = await codeRequest(clientId, code, verifier, { resource: world.resource });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("pragma")).toBe("no-cache");
    expect(res.body).toEqual({
      access_token: expect.stringMatching(/^tga_[A-Za-z0-9_-]{43}$/),
      token_type: "Bearer",
      expires_in: 3600,
      refresh_token: expect.stringMatching(/^tgr_[A-Za-z0-9_-]{43}$/),
      scope: "mcp:tools",
    });
    const verified = await verifyAccessToken(ctx, res.body!.access_token as string);
    expect(verified).toMatchObject({ grantId, clientId, userId: world.userId, serverId: world.serverId, scope: "mcp:tools" });
    // Stored only as a hash.
    const rows = (await ctx.db.select().from(accessTokens));
    expect(JSON.stringify(rows)).not.toContain(res.body!.access_token as string);
    const audit = (await ctx.db.select().from(auditEvents).where(eq(auditEvents.kind, "token.issued")));
    expect(audit).toHaveLength(1);
    expect(audit[0]!.detail).not.toContain("tga_");
    expect((await ctx.db.select().from(grants).where(eq(grants.id, grantId)).limit(1))[0]!.lastUsedAt).toBe(ctx.now());
    expect((await ctx.db.select().from(oauthClients).where(eq(oauthClients.id, clientId)).limit(1))[0]!.lastUsedAt).toBe(ctx.now());
  });

  it("does not require redirect_uri when the authorization request omitted it", async () => {
    const { clientId } = await makeClient(ctx);
    const { code, verifier } = await issueCode(ctx, { clientId, ...world, redirectUriProvided: false });
    const res = await postForm(server.url, "/token", { grant_type: "authorization_code", client_id: clientId, code, code_verifier: verifier });
    expect(res.status).toBe(200);
  });

  it("answers CORS preflights so browser-based clients can call it", async () => {
    const res = await fetch(server.url + "/token", { method: "OPTIONS", headers: { Origin: "https://inspector.example", "Access-Control-Request-Method": "POST" } });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("access-control-allow-methods")).toBe("POST, OPTIONS");
  });
});

describe("RFC 6749 §5.2 error responses", () => {
  it("rejects a GET with 405", async () => {
    const res = await fetch(server.url + "/token");
    expect(res.status).toBe(405);
    expect(await res.json()).toEqual({ error: "invalid_request", error_description: "Use POST for this endpoint" });
  });

  it("requires a form-encoded body", async () => {
    const res = await fetch(server.url + "/token", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    expect(res.status).toBe(400);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await res.json()).toEqual({ error: "invalid_request", error_description: "The request body must be application/x-www-form-urlencoded" });
  });

  it("requires grant_type", async () => {
    const res = await postForm(server.url, "/token", { client_id: "x" });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: "invalid_request", error_description: "The grant_type parameter is required" });
  });

  it("refuses unknown grant types with unsupported_grant_type", async () => {
    const res = await postForm(server.url, "/token", { grant_type: "password", client_id: "x" });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: "unsupported_grant_type", error_description: "The grant type password is not supported" });
  });

  it("keeps error_description within the characters RFC 6749 §5.2 allows", async () => {
    const res = await postForm(server.url, "/token", { grant_type: 'x"\\é\n', client_id: "x" });
    expect(res.body).toEqual({ error: "unsupported_grant_type", error_description: "The grant type x???? is not supported" });
  });

  it("refuses a repeated parameter with invalid_request (RFC 6749 §3.1)", async () => {
    const { clientId } = await makeClient(ctx);
    const { code, verifier } = await issueCode(ctx, { clientId, ...world });
    const res = await codeRequest(clientId, code, verifier, { code: [code, code] });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: "invalid_request", error_description: "The code parameter must not be repeated" });
    // The code was not consumed by the bad request.
    expect((await codeRequest(clientId, code, verifier)).status).toBe(200);
  });

  it("requires code and code_verifier", async () => {
    const { clientId } = await makeClient(ctx);
    const noCode = await postForm(server.url, "/token", { grant_type: "authorization_code", client_id: clientId, code_verifier: "x".repeat(43) });
    expect(noCode.body).toEqual({ error: "invalid_request", error_description: "The code parameter is required" });
    const noVerifier = await postForm(server.url, "/token", { grant_type: "authorization_code", client_id: clientId, code: "tgc_x" });
    expect(noVerifier.status).toBe(400);
    expect(noVerifier.body).toEqual({ error: "invalid_request", error_description: "The code_verifier parameter is required" });
  });

  it("rejects an unknown code with invalid_grant", async () => {
    const { clientId } = await makeClient(ctx);
    const res = await codeRequest(clientId, "tgc_unknown", "a".repeat(43));
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: "invalid_grant", error_description: "The authorization code is invalid" });
  });

  it("rejects an expired code with invalid_grant", async () => {
    const { clientId } = await makeClient(ctx);
    const { code, verifier } = await issueCode(ctx, { clientId, ...world });
    ctx.advance(60_001);
    const res = await codeRequest(clientId, code, verifier);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: "invalid_grant", error_description: "The authorization code expired" });
  });

  it("rejects a code issued to another client with invalid_grant, without consuming it", async () => {
    const owner = await makeClient(ctx);
    const other = await makeClient(ctx);
    const { code, verifier } = await issueCode(ctx, { clientId: owner.clientId, ...world });
    const res = await codeRequest(other.clientId, code, verifier);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: "invalid_grant", error_description: "The authorization code is invalid" });
    expect((await codeRequest(owner.clientId, code, verifier)).status).toBe(200);
  });

  it("rejects a code whose grant the user revoked", async () => {
    const { clientId } = await makeClient(ctx);
    const { code, verifier, grantId } = await issueCode(ctx, { clientId, ...world });
    await ctx.db.update(grants).set({ revokedAt: ctx.now() }).where(eq(grants.id, grantId));
    const res = await codeRequest(clientId, code, verifier);
    expect(res.body).toEqual({ error: "invalid_grant", error_description: "The authorization was revoked" });
  });

  it("requires redirect_uri when the authorization request included it", async () => {
    const { clientId } = await makeClient(ctx);
    const { code, verifier } = await issueCode(ctx, { clientId, ...world });
    const res = await postForm(server.url, "/token", { grant_type: "authorization_code", client_id: clientId, code, code_verifier: verifier });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: "invalid_request", error_description: "The redirect_uri parameter is required" });
  });

  it("rejects a redirect_uri that is not identical to the authorized one", async () => {
    const { clientId } = await makeClient(ctx);
    const { code, verifier } = await issueCode(ctx, { clientId, ...world });
    for (const redirect of [REDIRECT + "/", REDIRECT.toUpperCase(), "http://127.0.0.1/callback"]) {
      const res = await codeRequest(clientId, code, verifier, { redirect_uri: redirect });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: "invalid_grant", error_description: "The redirect_uri does not match the authorization request" });
    }
  });
});

describe("RFC 7636 §4.6 code_verifier", () => {
  it("rejects a verifier that does not hash to the challenge", async () => {
    const { clientId } = await makeClient(ctx);
    const { code } = await issueCode(ctx, { clientId, ...world });
    const res = await codeRequest(clientId, code, "B".repeat(43));
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: "invalid_grant", error_description: "The code_verifier does not match the code_challenge" });
  });

  it("rejects the challenge itself sent as the verifier (plain is not supported)", async () => {
    const { clientId } = await makeClient(ctx);
    const { code, challenge } = await issueCode(ctx, { clientId, ...world });
    const res = await codeRequest(clientId, code, challenge);
    expect(res.body).toEqual({ error: "invalid_grant", error_description: "The code_verifier does not match the code_challenge" });
  });

  it("rejects verifiers outside 43..128 characters of the unreserved set (RFC 7636 §4.1)", async () => {
    const { clientId } = await makeClient(ctx);
    const { code } = await issueCode(ctx, { clientId, ...world });
    for (const verifier of ["a".repeat(42), "a".repeat(129), "a".repeat(42) + "!"]) {
      const res = await codeRequest(clientId, code, verifier);
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: "invalid_request", error_description: "The code_verifier must be 43 to 128 characters from [A-Za-z0-9-._~]" });
    }
  });
});

describe("RFC 8707 §2 resource at the token endpoint", () => {
  it("accepts the origin as resource (a client that found only the path-less metadata)", async () => {
    const { clientId } = await makeClient(ctx);
    const { code, verifier } = await issueCode(ctx, { clientId, ...world });
    const res = await codeRequest(clientId, code, verifier, { resource: ctx.config.publicUrl });
    expect(res.status).toBe(200);
    // The token is still bound to the one server the user picked.
    expect((await verifyAccessToken(ctx, res.body!.access_token as string))!.serverId).toBe(world.serverId);
  });

  it("refuses a repeated resource (one server per token)", async () => {
    const { clientId } = await makeClient(ctx);
    const { code, verifier } = await issueCode(ctx, { clientId, ...world });
    const res = await codeRequest(clientId, code, verifier, { resource: [world.resource, world.resource] });
    expect(res.body).toEqual({ error: "invalid_request", error_description: "The resource parameter must not be repeated" });
  });

  it("rejects a resource other than the one authorized", async () => {
    const { clientId } = await makeClient(ctx);
    const { code, verifier } = await issueCode(ctx, { clientId, ...world });
    const other = await makeUserAndServer(ctx, "Other");
    const res = await codeRequest(clientId, code, verifier, { resource: other.resource });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: "invalid_target", error_description: "The resource does not match the resource this grant is for" });
  });
});

describe("RFC 6749 §10.5 / OAuth 2.1 §4.1.3 single-use codes", () => {
  it("fails a second use with invalid_grant and revokes the tokens the first use issued", async () => {
    const { clientId } = await makeClient(ctx);
    const { code, verifier } = await issueCode(ctx, { clientId, ...world });
    const first = await codeRequest(clientId, code, verifier);
    expect(first.status).toBe(200);
    const accessToken = first.body!.access_token as string;
    expect(await verifyAccessToken(ctx, accessToken)).not.toBeNull();

    const second = await codeRequest(clientId, code, verifier);
    expect(second.status).toBe(400);
    expect(second.body).toEqual({ error: "invalid_grant", error_description: "The authorization code was already used" });
    expect(await verifyAccessToken(ctx, accessToken)).toBeNull();
    const refresh = await postForm(server.url, "/token", { grant_type: "refresh_token", client_id: clientId, refresh_token: first.body!.refresh_token as string });
    expect(refresh.body).toEqual({ error: "invalid_grant", error_description: "The refresh token was revoked" });
    expect((await ctx.db.select().from(auditEvents).where(eq(auditEvents.kind, "code.reuse_detected")))).toHaveLength(1);
  });

  it("gives exactly one success to 50 parallel redemptions of one code", async () => {
    const { clientId } = await makeClient(ctx);
    const { code, verifier } = await issueCode(ctx, { clientId, ...world });
    const results = await Promise.all(Array.from({ length: 50 }, () => codeRequest(clientId, code, verifier)));
    const successes = results.filter((r) => r.status === 200);
    expect(successes).toHaveLength(1);
    for (const failure of results.filter((r) => r.status !== 200)) {
      expect(failure.status).toBe(400);
      expect(failure.body).toEqual({ error: "invalid_grant", error_description: "The authorization code was already used" });
    }
    // The replays revoked the family the one success received (RFC 6749 §10.5).
    expect(await verifyAccessToken(ctx, successes[0]!.body!.access_token as string)).toBeNull();
    expect((await ctx.db.select().from(authorizationCodes).limit(1))[0]!.usedAt).not.toBeNull();
  });
});

describe("RFC 6749 §2.3 / §5.2 client authentication", () => {
  it("authenticates a client_secret_basic client", async () => {
    const { clientId, secret } = await makeClient(ctx, "client_secret_basic");
    const { code, verifier } = await issueCode(ctx, { clientId, ...world });
    const res = await postForm(
      server.url,
      "/token",
      { grant_type: "authorization_code", code, code_verifier: verifier, redirect_uri: REDIRECT },
      { Authorization: basic(clientId, secret!) },
    );
    expect(res.status).toBe(200);
  });

  it("authenticates a client_secret_post client", async () => {
    const { clientId, secret } = await makeClient(ctx, "client_secret_post");
    const { code, verifier } = await issueCode(ctx, { clientId, ...world });
    const res = await codeRequest(clientId, code, verifier, { client_secret: secret! });
    expect(res.status).toBe(200);
  });

  it("answers 401 invalid_client with WWW-Authenticate for a wrong Basic secret", async () => {
    const { clientId } = await makeClient(ctx, "client_secret_basic");
    const { code, verifier } = await issueCode(ctx, { clientId, ...world });
    const res = await postForm(
      server.url,
      "/token",
      { grant_type: "authorization_code", code, code_verifier: verifier, redirect_uri: REDIRECT },
      { Authorization: basic(clientId, "tgs_wrong") },
    );
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe('Basic realm="toolgate"');
    expect(res.body).toEqual({ error: "invalid_client", error_description: "Client authentication failed" });
  });

  it("answers 401 invalid_client for an unknown client (clients re-register on it)", async () => {
    const res = await postForm(server.url, "/token", { grant_type: "authorization_code", client_id: "no-such-client", code: "tgc_x", code_verifier: "a".repeat(43) });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBeNull();
    expect(res.body).toEqual({ error: "invalid_client", error_description: "Client authentication failed" });
  });

  it("refuses a confidential client that sends no secret", async () => {
    const { clientId } = await makeClient(ctx, "client_secret_post");
    const { code, verifier } = await issueCode(ctx, { clientId, ...world });
    const res = await codeRequest(clientId, code, verifier);
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: "invalid_client", error_description: "Client authentication failed" });
  });

  it("refuses a client that uses another method than the one it registered", async () => {
    const { clientId, secret } = await makeClient(ctx, "client_secret_basic");
    const { code, verifier } = await issueCode(ctx, { clientId, ...world });
    const res = await codeRequest(clientId, code, verifier, { client_secret: secret! });
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: "invalid_client", error_description: "Client authentication failed" });
  });

  it("refuses a public client that presents a secret", async () => {
    const { clientId } = await makeClient(ctx, "none");
    const { code, verifier } = await issueCode(ctx, { clientId, ...world });
    const res = await codeRequest(clientId, code, verifier, { client_secret: "tgs_anything" });
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: "invalid_client", error_description: "Client authentication failed" });
  });

  it("treats Basic with an empty secret from a public client as no authentication", async () => {
    const { clientId } = await makeClient(ctx, "none");
    const { code, verifier } = await issueCode(ctx, { clientId, ...world });
    const res = await postForm(
      server.url,
      "/token",
      { grant_type: "authorization_code", code, code_verifier: verifier, redirect_uri: REDIRECT },
      { Authorization: `Basic ${Buffer.from(`${clientId}:`).toString("base64")}` },
    );
    expect(res.status).toBe(200);
  });

  it("refuses Basic with an empty secret for a confidential client", async () => {
    const { clientId } = await makeClient(ctx, "client_secret_basic");
    const { code, verifier } = await issueCode(ctx, { clientId, ...world });
    const res = await postForm(
      server.url,
      "/token",
      { grant_type: "authorization_code", code, code_verifier: verifier, redirect_uri: REDIRECT },
      { Authorization: `Basic ${Buffer.from(`${clientId}:`).toString("base64")}` },
    );
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe('Basic realm="toolgate"');
    expect(res.body).toEqual({ error: "invalid_client", error_description: "Client authentication failed" });
  });

  it("accepts a Client ID Metadata Document client (public, no secret)", async () => {
    const clientId = "https://agent.example.test/oauth/client.json";
    const document = { client_id: clientId, client_name: "Agent", redirect_uris: [REDIRECT], token_endpoint_auth_method: "none" };
    expect(await resolveClient(ctx, clientId, async () => ({ document, cacheSeconds: 3600 }))).not.toBeNull();
    const { code, verifier } = await issueCode(ctx, { clientId, ...world });
    expect((await codeRequest(clientId, code, verifier, { client_secret: "tgs_guess" })).status).toBe(401);
    const res = await codeRequest(clientId, code, verifier);
    expect(res.status).toBe(200);
  });

  it("refuses credentials in both the header and the body", async () => {
    const { clientId, secret } = await makeClient(ctx, "client_secret_basic");
    const res = await postForm(
      server.url,
      "/token",
      { grant_type: "authorization_code", code: "tgc_x", code_verifier: "a".repeat(43), client_secret: secret! },
      { Authorization: basic(clientId, secret!) },
    );
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: "invalid_request", error_description: "Client credentials must be sent in one place only, not in both the header and the body" });
  });

  it("refuses a malformed Authorization header with 401 invalid_client", async () => {
    const res = await postForm(server.url, "/token", { grant_type: "authorization_code", code: "tgc_x" }, { Authorization: "Bearer abc" });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe('Basic realm="toolgate"');
    expect(res.body).toEqual({ error: "invalid_client", error_description: "The Authorization header is not valid HTTP Basic client authentication" });
  });

  it("requires client_id for a public client", async () => {
    const res = await postForm(server.url, "/token", { grant_type: "authorization_code", code: "tgc_x", code_verifier: "a".repeat(43) });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: "invalid_request", error_description: "The client_id parameter is required" });
  });
});
