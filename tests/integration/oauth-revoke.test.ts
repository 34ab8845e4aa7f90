/** POST /revoke (RFC 7009). */
import { describe, expect, it } from "vitest";
import { eq } from "drizzle-orm";
import type { RunningServer } from "~/http/server.server";
import { auditEvents, grants } from "~/db/schema";
import { verifyAccessToken } from "~/oauth/tokens.server";
import type { TestContext } from "../helpers/context";
import { basic, issueTokens, makeClient, makeUserAndServer, postForm, useOAuthWorld } from "./oauth-fixtures";

let ctx: TestContext;
let server: RunningServer;
let world: Awaited<ReturnType<typeof makeUserAndServer>>;
let clientId: string;

useOAuthWorld({}, (w) => ({ ctx, server, world, clientId } = w));

const tokensFor = (id = clientId, headers: Record<string, string> = {}) => issueTokens(ctx, server.url, { clientId: id, ...world }, headers);

const revoke = (fields: Record<string, string>, headers: Record<string, string> = {}) => postForm(server.url, "/revoke", fields, headers);

describe("RFC 7009 §2.1 revocation request", () => {
  it("revokes an access token alone", async () => {
    const t = await tokensFor();
    const res = await revoke({ client_id: clientId, token: t.access, token_type_hint: "access_token" });
    expect(res.status).toBe(200);
    expect(res.body).toBeNull();
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await verifyAccessToken(ctx, t.access)).toBeNull();
    // The refresh token still works.
    const refreshed = await postForm(server.url, "/token", { grant_type: "refresh_token", client_id: clientId, refresh_token: t.refresh });
    expect(refreshed.status).toBe(200);
    const audit = (await ctx.db.select().from(auditEvents).where(eq(auditEvents.kind, "token.revoked")));
    expect(audit).toHaveLength(1);
    expect(JSON.parse(audit[0]!.detail)).toMatchObject({ tokenType: "access_token" });
  });

  it("revokes a refresh token together with its family's access tokens, leaving the grant", async () => {
    const t = await tokensFor();
    const res = await revoke({ client_id: clientId, token: t.refresh });
    expect(res.status).toBe(200);
    expect(await verifyAccessToken(ctx, t.access)).toBeNull();
    const refreshed = await postForm(server.url, "/token", { grant_type: "refresh_token", client_id: clientId, refresh_token: t.refresh });
    expect(refreshed.body).toEqual({ error: "invalid_grant", error_description: "The refresh token was revoked" });
    expect((await ctx.db.select().from(grants).where(eq(grants.id, t.grantId)).limit(1))[0]!.revokedAt).toBeNull();
    // The event names the server and user, so it appears on that server's Activity page.
    const audit = (await ctx.db.select().from(auditEvents).where(eq(auditEvents.kind, "token.revoked")));
    expect(audit.map((e) => [e.serverId, e.userId, JSON.parse(e.detail).tokenType])).toEqual([
      [world.serverId, world.userId, "refresh_token"],
    ]);
  });

  it("ignores a misleading token_type_hint", async () => {
    const t = await tokensFor();
    expect((await revoke({ client_id: clientId, token: t.access, token_type_hint: "refresh_token" })).status).toBe(200);
    expect(await verifyAccessToken(ctx, t.access)).toBeNull();
  });

  it("answers 200 for an unknown token", async () => {
    const res = await revoke({ client_id: clientId, token: "tga_never-issued" });
    expect(res.status).toBe(200);
    expect((await revoke({ client_id: clientId, token: "something-else" })).status).toBe(200);
  });

  it("answers 200 for another client's token and does not revoke it", async () => {
    const t = await tokensFor();
    const other = (await makeClient(ctx)).clientId;
    expect((await revoke({ client_id: other, token: t.access })).status).toBe(200);
    expect((await revoke({ client_id: other, token: t.refresh })).status).toBe(200);
    expect(await verifyAccessToken(ctx, t.access)).not.toBeNull();
    expect((await ctx.db.select().from(auditEvents).where(eq(auditEvents.kind, "token.revoked")))).toHaveLength(0);
  });

  it("requires token", async () => {
    const res = await revoke({ client_id: clientId });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: "invalid_request", error_description: "The token parameter is required" });
  });
});

describe("RFC 7009 §2.2.1 client authentication at the revocation endpoint", () => {
  it("authenticates confidential clients like the token endpoint does", async () => {
    const { clientId: id, secret } = await makeClient(ctx, "client_secret_basic");
    const t = await tokensFor(id, { Authorization: basic(id, secret!) });
    const wrong = await revoke({ token: t.access }, { Authorization: basic(id, "tgs_wrong") });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("www-authenticate")).toBe('Basic realm="toolgate"');
    expect(wrong.body).toEqual({ error: "invalid_client", error_description: "Client authentication failed" });
    expect(await verifyAccessToken(ctx, t.access)).not.toBeNull();
    const ok = await revoke({ token: t.access }, { Authorization: basic(id, secret!) });
    expect(ok.status).toBe(200);
    expect(await verifyAccessToken(ctx, t.access)).toBeNull();
  });

  it("answers 401 for an unknown client", async () => {
    const res = await revoke({ client_id: "nobody", token: "tga_x" });
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: "invalid_client", error_description: "Client authentication failed" });
  });
});
