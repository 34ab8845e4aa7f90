/** POST /token, refresh_token grant: rotation, the grace window, reuse detection (decision 004). */
import { describe, expect, it } from "vitest";
import { eq } from "drizzle-orm";
import type { RunningServer } from "~/http/server.server";
import { auditEvents, grants, refreshTokens } from "~/db/schema";
import { secretHash, verifyAccessToken } from "~/oauth/tokens.server";
import type { TestContext } from "../helpers/context";
import { registerClient } from "~/oauth/clients.server";
import { basic, issueCode, issueTokens, makeClient, makeUserAndServer, postForm, REDIRECT, useOAuthWorld } from "./oauth-fixtures";

let ctx: TestContext;
let server: RunningServer;
let world: Awaited<ReturnType<typeof makeUserAndServer>>;
let clientId: string;

useOAuthWorld({ TOOLGATE_REFRESH_GRACE: "30" }, (w) => ({ ctx, server, world, clientId } = w));

const tokensFor = () => issueTokens(ctx, server.url, { clientId, ...world });

function refresh(token: string, extra: Record<string, string> = {}, id = clientId) {
  return postForm(server.url, "/token", { grant_type: "refresh_token", client_id: id, refresh_token: token, ...extra });
}

describe("RFC 6749 §6 / OAuth 2.1 §4.3.1 refresh with rotation", () => {
  it("returns a new pair and marks the old refresh token as rotated", async () => {
    const first = await tokensFor();
    ctx.advance(1000);
    const res = await refresh(first.refresh);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.body).toEqual({
      access_token: expect.stringMatching(/^tga_/),
      token_type: "Bearer",
      expires_in: 3600,
      refresh_token: expect.stringMatching(/^tgr_/),
      scope: "mcp:tools",
    });
    expect(res.body!.refresh_token).not.toBe(first.refresh);
    const old = (await ctx.db.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, secretHash(first.refresh))).limit(1))[0]!;
    expect(old.rotatedAt).toBe(ctx.now());
    expect(old.replacedBy).toBe(secretHash(res.body!.refresh_token as string));
    // The earlier access token keeps working until it expires.
    expect(await verifyAccessToken(ctx, first.access)).not.toBeNull();
    expect(await verifyAccessToken(ctx, res.body!.access_token as string)).not.toBeNull();
    expect((await ctx.db.select().from(auditEvents).where(eq(auditEvents.kind, "token.refreshed")))).toHaveLength(1);
  });

  it("keeps working across many rotations", async () => {
    let token = (await tokensFor()).refresh;
    for (let i = 0; i < 5; i++) {
      ctx.advance(60_000);
      const res = await refresh(token);
      expect(res.status).toBe(200);
      token = res.body!.refresh_token as string;
    }
  });

  it("accepts the same scope or a narrower one, never a wider one", async () => {
    const first = await tokensFor();
    const same = await refresh(first.refresh, { scope: "mcp:tools" });
    expect(same.status).toBe(200);
    expect(same.body!.scope).toBe("mcp:tools");
    const wider = await refresh(same.body!.refresh_token as string, { scope: "mcp:tools admin" });
    expect(wider.status).toBe(400);
    expect(wider.body).toEqual({ error: "invalid_scope", error_description: "The requested scope exceeds the scope originally granted" });
  });

  it("checks resource when sent (RFC 8707 §2)", async () => {
    const first = await tokensFor();
    const ok = await refresh(first.refresh, { resource: world.resource });
    expect(ok.status).toBe(200);
    const bad = await refresh(ok.body!.refresh_token as string, { resource: world.resource + "x" });
    expect(bad.body).toEqual({ error: "invalid_target", error_description: "The resource does not match the resource this grant is for" });
  });
});

describe("RFC 6749 §5.2 invalid_grant for refresh tokens", () => {
  it("rejects an unknown refresh token", async () => {
    const res = await refresh("tgr_unknown");
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: "invalid_grant", error_description: "The refresh token is invalid" });
  });

  it("requires refresh_token", async () => {
    const res = await postForm(server.url, "/token", { grant_type: "refresh_token", client_id: clientId });
    expect(res.body).toEqual({ error: "invalid_request", error_description: "The refresh_token parameter is required" });
  });

  it("rejects an expired refresh token", async () => {
    const first = await tokensFor();
    ctx.advance(30 * 24 * 3600 * 1000 + 1);
    const res = await refresh(first.refresh);
    expect(res.body).toEqual({ error: "invalid_grant", error_description: "The refresh token expired" });
  });

  it("rejects a refresh token of another client without touching it", async () => {
    const first = await tokensFor();
    const other = (await makeClient(ctx)).clientId;
    const res = await refresh(first.refresh, {}, other);
    expect(res.body).toEqual({ error: "invalid_grant", error_description: "The refresh token is invalid" });
    expect((await refresh(first.refresh)).status).toBe(200);
  });

  it("rejects refresh tokens of a grant the user revoked", async () => {
    const first = await tokensFor();
    await ctx.db.update(grants).set({ revokedAt: ctx.now() }).where(eq(grants.id, first.grantId));
    const res = await refresh(first.refresh);
    expect(res.body).toEqual({ error: "invalid_grant", error_description: "The refresh token was revoked" });
  });

  it("authenticates confidential clients on refresh too", async () => {
    const { clientId: id, secret } = await makeClient(ctx, "client_secret_basic");
    const { code, verifier } = await issueCode(ctx, { clientId: id, ...world });
    const auth = { Authorization: basic(id, secret!) };
    const first = await postForm(server.url, "/token", { grant_type: "authorization_code", code, code_verifier: verifier, redirect_uri: REDIRECT }, auth);
    const noAuth = await refresh(first.body!.refresh_token as string, {}, id);
    expect(noAuth.status).toBe(401);
    expect(noAuth.body).toEqual({ error: "invalid_client", error_description: "Client authentication failed" });
    const ok = await postForm(server.url, "/token", { grant_type: "refresh_token", refresh_token: first.body!.refresh_token as string }, auth);
    expect(ok.status).toBe(200);
  });
});

describe("RFC 9700 §4.14.2 grace window and reuse detection", () => {
  it("answers a retry with the just-replaced token inside the grace window with a fresh pair that replaces the first", async () => {
    const first = await tokensFor();
    const a = await refresh(first.refresh);
    ctx.advance(29_000);
    const b = await refresh(first.refresh);
    expect(b.status).toBe(200);
    expect(b.body!.refresh_token).not.toBe(a.body!.refresh_token);
    // Only the newest successor is live: the first answer's pair was revoked by the retry.
    expect(await verifyAccessToken(ctx, a.body!.access_token as string)).toBeNull();
    expect(await verifyAccessToken(ctx, b.body!.access_token as string)).not.toBeNull();
    const old = (await ctx.db.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, secretHash(first.refresh))).limit(1))[0]!;
    expect(old.replacedBy).toBe(secretHash(b.body!.refresh_token as string));
    expect(old.rotatedAt).toBe(ctx.now() - 29_000);
    expect((await refresh(b.body!.refresh_token as string)).status).toBe(200);
    const audit = (await ctx.db.select().from(auditEvents).where(eq(auditEvents.kind, "token.refreshed")));
    expect(audit.filter((e) => JSON.parse(e.detail).graceRetry === true)).toHaveLength(1);
  });

  it("treats the replaced successor of a grace retry as reuse when it is presented later", async () => {
    const first = await tokensFor();
    const a = await refresh(first.refresh);
    const b = await refresh(first.refresh);
    const replay = await refresh(a.body!.refresh_token as string);
    expect(replay.status).toBe(400);
    expect(replay.body).toEqual({
      error: "invalid_grant",
      error_description: "The refresh token was replaced by a later refresh; the authorization was revoked",
    });
    expect((await ctx.db.select().from(grants).where(eq(grants.id, first.grantId)).limit(1))[0]!.revokedAt).toBe(ctx.now());
    expect(await verifyAccessToken(ctx, b.body!.access_token as string)).toBeNull();
    expect((await refresh(b.body!.refresh_token as string)).body!.error_description).toBe("The refresh token was revoked");
    const audit = (await ctx.db.select().from(auditEvents).where(eq(auditEvents.kind, "refresh.reuse_detected")));
    expect(audit.map((e) => JSON.parse(e.detail).token)).toEqual(["superseded"]);
  });

  it("does not stretch the window by retrying: a retry after the first rotation's window is reuse", async () => {
    const first = await tokensFor();
    await refresh(first.refresh);
    ctx.advance(20_000);
    expect((await refresh(first.refresh)).status).toBe(200);
    ctx.advance(20_000);
    const late = await refresh(first.refresh);
    expect(late.body!.error_description).toBe("The refresh token was already used; the authorization was revoked");
  });

  it("treats reuse after the grace window as theft and revokes the whole grant", async () => {
    const first = await tokensFor();
    const second = await tokensFor(); // a separate grant (another connection): it must stay untouched
    const a = await refresh(first.refresh);
    ctx.advance(30_001);
    const replay = await refresh(first.refresh);
    expect(replay.status).toBe(400);
    expect(replay.body).toEqual({ error: "invalid_grant", error_description: "The refresh token was already used; the authorization was revoked" });
    expect(await verifyAccessToken(ctx, first.access)).toBeNull();
    expect(await verifyAccessToken(ctx, a.body!.access_token as string)).toBeNull();
    const next = await refresh(a.body!.refresh_token as string);
    expect(next.body).toEqual({ error: "invalid_grant", error_description: "The refresh token was revoked" });
    expect((await ctx.db.select().from(grants).where(eq(grants.id, first.grantId)).limit(1))[0]!.revokedAt).toBe(ctx.now());
    expect(await verifyAccessToken(ctx, second.access)).not.toBeNull();
    const audit = (await ctx.db.select().from(auditEvents).where(eq(auditEvents.kind, "refresh.reuse_detected")));
    expect(audit).toHaveLength(1);
    expect(audit[0]!.grantId).toBe(first.grantId);
    expect(audit[0]!.detail).not.toContain("tgr_");
  });

  it("treats reuse as theft even inside the window once the successor was itself used", async () => {
    const first = await tokensFor();
    const a = await refresh(first.refresh);
    ctx.advance(1000);
    expect((await refresh(a.body!.refresh_token as string)).status).toBe(200);
    ctx.advance(1000);
    const replay = await refresh(first.refresh);
    expect(replay.body).toEqual({ error: "invalid_grant", error_description: "The refresh token was already used; the authorization was revoked" });
    expect((await ctx.db.select().from(grants).where(eq(grants.id, first.grantId)).limit(1))[0]!.revokedAt).not.toBeNull();
  });

  it("with a grace of 0, any reuse revokes the grant", async () => {
    ctx.config.refreshGraceSeconds = 0;
    const first = await tokensFor();
    await refresh(first.refresh);
    ctx.advance(1);
    const replay = await refresh(first.refresh);
    expect(replay.body!.error).toBe("invalid_grant");
    expect((await ctx.db.select().from(grants).where(eq(grants.id, first.grantId)).limit(1))[0]!.revokedAt).not.toBeNull();
  });

  it("answers parallel refreshes with one token inside the window without revoking the grant; one successor stays live", async () => {
    const first = await tokensFor();
    const results = await Promise.all(Array.from({ length: 10 }, () => refresh(first.refresh)));
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect((await ctx.db.select().from(grants).where(eq(grants.id, first.grantId)).limit(1))[0]!.revokedAt).toBeNull();
    const live: typeof results = [];
    for (const r of results) if ((await verifyAccessToken(ctx, r.body!.access_token as string)) !== null) live.push(r);
    expect(live).toHaveLength(1);
  });
});

describe("RFC 7591 §2 grant_types: a client registered without refresh_token", () => {
  it("gets an access token without a refresh token, and the refresh grant is unauthorized_client", async () => {
    const { response } = await registerClient(ctx, {
      client_name: "Access-only client",
      redirect_uris: [REDIRECT],
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code"],
    });
    const accessOnly = response.client_id as string;
    const { code, verifier } = await issueCode(ctx, { clientId: accessOnly, ...world });
    const exchanged = await postForm(server.url, "/token", {
      grant_type: "authorization_code",
      code,
      code_verifier: verifier,
      redirect_uri: REDIRECT,
      client_id: accessOnly,
    });
    expect(exchanged.status).toBe(200);
    expect(exchanged.body).toHaveProperty("access_token");
    expect(exchanged.body).not.toHaveProperty("refresh_token");
    expect((await ctx.db.select().from(refreshTokens).where(eq(refreshTokens.clientId, accessOnly)))).toEqual([]);

    const refused = await postForm(server.url, "/token", {
      grant_type: "refresh_token",
      refresh_token: "tgr_anything",
      client_id: accessOnly,
    });
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual({
      error: "unauthorized_client",
      error_description: "This client is not registered for the refresh_token grant",
    });
  });
});
