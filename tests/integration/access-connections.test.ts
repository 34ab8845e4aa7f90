import { and, eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { listConnections } from "~/access/connections.server";
import { REVOKE_CSRF_PURPOSE } from "~/access/revoke-action.server";
import { csrfToken, sessionStorage } from "~/auth/session.server";
import { auditEvents, grants, refreshTokens, tokenFamilies } from "~/db/schema";
import { secretHash, verifyAccessToken } from "~/oauth/tokens.server";
import { action as allAction, loader as allLoader } from "~/routes/connections";
import { action as serverAction, loader as serverLoader } from "~/routes/servers.$serverId_.connections";
import { createTestContext, type TestContext } from "../helpers/context";
import { formRequest, loadContext } from "../helpers/http";
import { addFamily, makeClient, makeGrant, makeServer, makeUser } from "./access-fixtures";

const BASE = "http://localhost:3000";

async function sidOf(ctx: TestContext, cookie: string) {
  const session = await sessionStorage(ctx).getSession(cookie);
  return session.get("sid")!;
}

async function callLoader(
  ctx: TestContext,
  loader: typeof allLoader | typeof serverLoader,
  path: string,
  cookie: string,
  params: Record<string, string> = {},
) {
  try {
    return (await loader({ request: new Request(BASE + path, { headers: { Cookie: cookie } }), context: loadContext(ctx), params })) as Response;
  } catch (thrown) {
    if (thrown instanceof Response) return thrown;
    throw thrown;
  }
}

async function postRevoke(
  ctx: TestContext,
  action: typeof allAction | typeof serverAction,
  path: string,
  user: { cookie: string },
  grantId: string,
  params: Record<string, string> = {},
  csrf?: string,
) {
  const token = csrf ?? csrfToken(ctx, await sidOf(ctx, user.cookie), REVOKE_CSRF_PURPOSE);
  const request = formRequest(BASE + path, { csrf: token, grantId }, { Cookie: user.cookie, Origin: BASE });
  try {
    return (await action({ request, context: loadContext(ctx), params })) as Response;
  } catch (thrown) {
    if (thrown instanceof Response) return thrown;
    throw thrown;
  }
}

describe("connected applications", () => {
  let ctx: TestContext;
  let ada: Awaited<ReturnType<typeof makeUser>>;
  let bob: Awaited<ReturnType<typeof makeUser>>;
  let weather: Awaited<ReturnType<typeof makeServer>>;
  let notes: Awaited<ReturnType<typeof makeServer>>;
  let bobServer: Awaited<ReturnType<typeof makeServer>>;

  beforeEach(async () => {
    ctx = createTestContext();
    ada = await makeUser(ctx, "ada");
    bob = await makeUser(ctx, "bob");
    weather = await makeServer(ctx, ada.id, "Weather");
    notes = await makeServer(ctx, ada.id, "Notes", ["search"]);
    bobServer = await makeServer(ctx, bob.id, "Bob's server", ["secret"]);
  });
  afterEach(() => ctx.cleanup());

  it("lists every active grant with name, redirect host, identification, dates and granted tools", async () => {
    const desktop = await makeClient(ctx, { name: "Claude Desktop", redirectUris: ["http://127.0.0.1:33418/callback", "http://127.0.0.1:9/cb"] });
    const editor = await makeClient(ctx, {
      name: "Editor",
      kind: "metadata_document",
      id: "https://editor.example/oauth/client.json",
      redirectUris: ["https://callback.editor.example/oauth"],
    });
    const first = await makeGrant(ctx, { userId: ada.id, clientId: desktop.id, serverId: weather.id, toolIds: [weather.toolIds.forecast!, weather.toolIds.alerts!] });
    const createdAt = ctx.now();
    ctx.advance(60_000);
    await makeGrant(ctx, { userId: ada.id, clientId: editor.id, serverId: notes.id, toolIds: [notes.toolIds.search!] });
    await ctx.db.update(grants).set({ lastUsedAt: ctx.now() + 5_000 }).where(eq(grants.id, first.grantId));
    // Someone else's grant never shows up on Ada's pages.
    await makeGrant(ctx, { userId: bob.id, clientId: desktop.id, serverId: bobServer.id, toolIds: [bobServer.toolIds.secret!] });

    const all = await listConnections(ctx, ada.id);
    expect(all.map((c) => [c.serverName, c.applicationName])).toEqual([
      ["Notes", "Editor"],
      ["Weather", "Claude Desktop"],
    ]);
    const w = all.find((c) => c.grantId === first.grantId)!;
    expect(w).toMatchObject({
      serverId: weather.id,
      clientId: desktop.id,
      redirectHosts: ["127.0.0.1:33418", "127.0.0.1:9"],
      identifiedBy: "registered",
      clientIdHost: null,
      firstAuthorizedAt: createdAt,
      lastUsedAt: ctx.now() + 5_000,
    });
    expect(w.tools.map((t) => t.name)).toEqual(["alerts", "forecast"]);
    const e = all.find((c) => c.applicationName === "Editor")!;
    expect(e).toMatchObject({ identifiedBy: "metadata_document", clientIdHost: "editor.example", redirectHosts: ["callback.editor.example"], lastUsedAt: null });

    expect((await listConnections(ctx, ada.id, { serverId: weather.id })).map((c) => c.grantId)).toEqual([first.grantId]);
    // Ada asking for Bob's server gets nothing, even though the query names it.
    expect(await listConnections(ctx, ada.id, { serverId: bobServer.id })).toEqual([]);
  });

  it("renders both pages from real requests, and the per-server page of another user's server is 404", async () => {
    const client = await makeClient(ctx, { name: "Claude Desktop" });
    await makeGrant(ctx, { userId: ada.id, clientId: client.id, serverId: weather.id, toolIds: [weather.toolIds.radar!] });

    const all = await callLoader(ctx, allLoader, "/connections", ada.cookie);
    expect(all.status).toBe(200);
    const allData = await all.json();
    expect(allData.groups).toHaveLength(1);
    expect(allData.groups[0].entries[0].tools.map((t: { name: string }) => t.name)).toEqual(["radar"]);

    const one = await callLoader(ctx, serverLoader, `/servers/${weather.id}/connections`, ada.cookie, { serverId: weather.id });
    expect(one.status).toBe(200);
    expect((await one.json()).server).toEqual({ id: weather.id, name: "Weather" });

    const other = await callLoader(ctx, serverLoader, `/servers/${bobServer.id}/connections`, ada.cookie, { serverId: bobServer.id });
    expect(other.status).toBe(404);
    const unknown = await callLoader(ctx, serverLoader, "/servers/nope/connections", ada.cookie, { serverId: "nope" });
    expect(unknown.status).toBe(404);

    const anonymous = await callLoader(ctx, allLoader, "/connections", "");
    expect(anonymous.status).toBe(302);
    expect(anonymous.headers.get("Location")).toBe("/sign-in?returnTo=%2Fconnections");
  });

  it("Revoke access ends the grant and every token of every family under it, and records who did it", async () => {
    const client = await makeClient(ctx, { name: "Claude Desktop" });
    const grant = await makeGrant(ctx, { userId: ada.id, clientId: client.id, serverId: weather.id, toolIds: [weather.toolIds.forecast!] });
    const secondDevice = await addFamily(ctx, grant, { clientId: client.id, userId: ada.id, serverId: weather.id });
    // Another grant of the same client (another authorization) is separate and survives.
    const other = await makeGrant(ctx, { userId: ada.id, clientId: client.id, serverId: notes.id, toolIds: [notes.toolIds.search!] });
    expect(await verifyAccessToken(ctx, grant.tokens.accessToken)).not.toBeNull();

    ctx.advance(1_000);
    const response = await postRevoke(ctx, allAction, "/connections", ada, grant.grantId);
    expect(response.status).toBe(302);
    expect(response.headers.get("Location")).toBe("/connections");

    expect(await verifyAccessToken(ctx, grant.tokens.accessToken)).toBeNull();
    expect(await verifyAccessToken(ctx, secondDevice.accessToken)).toBeNull();
    for (const refresh of [grant.tokens.refreshToken!, secondDevice.refreshToken!]) {
      const row = (await ctx.db.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, secretHash(refresh))).limit(1))[0]!;
      expect(row.revokedAt).toBe(ctx.now());
    }
    const families = (await ctx.db.select().from(tokenFamilies).where(eq(tokenFamilies.grantId, grant.grantId)));
    expect(families).toHaveLength(2);
    expect(families.every((f) => f.revokedAt === ctx.now())).toBe(true);
    const row = (await ctx.db.select().from(grants).where(eq(grants.id, grant.grantId)).limit(1))[0]!;
    expect(row).toMatchObject({ revokedAt: ctx.now(), revokedBy: ada.id });

    expect(await verifyAccessToken(ctx, other.tokens.accessToken)).not.toBeNull();
    expect((await listConnections(ctx, ada.id)).map((c) => c.grantId)).toEqual([other.grantId]);

    const events = (await ctx.db.select().from(auditEvents).where(eq(auditEvents.kind, "grant.revoked")));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ serverId: weather.id, clientId: client.id, grantId: grant.grantId, actor: ada.id, userId: ada.id, at: ctx.now() });

    // The page after the redirect says what happened, once.
    const page = await callLoader(ctx, allLoader, "/connections", response.headers.get("Set-Cookie")!.split(";")[0]!);
    expect((await page.json()).toast).toBe("Access revoked for \u2068Claude Desktop\u2069. Its tokens no longer work.");

    // Revoking again is a 404: the grant is no longer connected.
    expect((await postRevoke(ctx, allAction, "/connections", ada, grant.grantId)).status).toBe(404);
  });

  it("the per-server page revokes only grants of that server", async () => {
    const client = await makeClient(ctx);
    const grant = await makeGrant(ctx, { userId: ada.id, clientId: client.id, serverId: weather.id, toolIds: [] });
    const wrongPage = await postRevoke(ctx, serverAction, `/servers/${notes.id}/connections`, ada, grant.grantId, { serverId: notes.id });
    expect(wrongPage.status).toBe(404);
    expect(await verifyAccessToken(ctx, grant.tokens.accessToken)).not.toBeNull();

    const ok = await postRevoke(ctx, serverAction, `/servers/${weather.id}/connections`, ada, grant.grantId, { serverId: weather.id });
    expect(ok.status).toBe(302);
    expect(ok.headers.get("Location")).toBe(`/servers/${weather.id}/connections`);
    expect(await verifyAccessToken(ctx, grant.tokens.accessToken)).toBeNull();
  });

  it("a revoke for a grant on another user's server answers 404 and changes nothing", async () => {
    const client = await makeClient(ctx);
    const bobsGrant = await makeGrant(ctx, { userId: bob.id, clientId: client.id, serverId: bobServer.id, toolIds: [bobServer.toolIds.secret!] });
    for (const [action, path, params] of [
      [allAction, "/connections", {}],
      [serverAction, `/servers/${bobServer.id}/connections`, { serverId: bobServer.id }],
      [serverAction, `/servers/${weather.id}/connections`, { serverId: weather.id }],
    ] as const) {
      const response = await postRevoke(ctx, action, path, ada, bobsGrant.grantId, params);
      expect(response.status).toBe(404);
    }
    expect((await postRevoke(ctx, allAction, "/connections", ada, "no-such-grant")).status).toBe(404);
    expect(await verifyAccessToken(ctx, bobsGrant.tokens.accessToken)).not.toBeNull();
    expect((await ctx.db.select().from(grants).where(eq(grants.id, bobsGrant.grantId)).limit(1))[0]!.revokedAt).toBeNull();
    expect((await ctx.db.select().from(auditEvents))).toEqual([]);
  });

  it("refuses a revoke without this session's CSRF token (403) or without a session (sign-in redirect)", async () => {
    const client = await makeClient(ctx);
    const grant = await makeGrant(ctx, { userId: ada.id, clientId: client.id, serverId: weather.id, toolIds: [] });
    const bobsToken = csrfToken(ctx, await sidOf(ctx, bob.cookie), REVOKE_CSRF_PURPOSE);
    expect((await postRevoke(ctx, allAction, "/connections", ada, grant.grantId, {}, bobsToken)).status).toBe(403);
    const otherPurpose = csrfToken(ctx, await sidOf(ctx, ada.cookie), "form");
    expect((await postRevoke(ctx, allAction, "/connections", ada, grant.grantId, {}, otherPurpose)).status).toBe(403);
    const anonymous = await postRevoke(ctx, allAction, "/connections", { cookie: "" }, grant.grantId, {}, "x");
    expect(anonymous.status).toBe(302);
    expect(anonymous.headers.get("Location")).toMatch(/^\/sign-in\?returnTo=/);
    expect(await verifyAccessToken(ctx, grant.tokens.accessToken)).not.toBeNull();
    expect((await ctx.db.select().from(grants).where(and(eq(grants.id, grant.grantId))).limit(1))[0]!.revokedAt).toBeNull();
  });
});
