import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { listConnections } from "~/access/connections.server";
import { accessTokens, grants, grantTools, refreshTokens } from "~/db/schema";
import { secretHash, verifyAccessToken } from "~/oauth/tokens.server";
import { addTool as addToolAsOwner, deleteServer, deleteTool } from "~/servers/servers.server";
import { createTestContext, type TestContext } from "../helpers/context";
import { makeClient, makeGrant, makeServer, makeUser } from "./access-fixtures";

describe("grants follow tools and servers (foreign-key cascades)", () => {
  let ctx: TestContext;
  let userId: string;
  let server: Awaited<ReturnType<typeof makeServer>>;
  let clientId: string;

  beforeEach(async () => {
    ctx = createTestContext();
    userId = (await makeUser(ctx)).id;
    server = await makeServer(ctx, userId, "Weather", ["forecast", "alerts", "radar"]);
    clientId = (await makeClient(ctx)).id;
  });
  afterEach(() => ctx.cleanup());

  const granted = async (grantId: string) =>
    (await ctx.db
      .select({ toolId: grantTools.toolId })
      .from(grantTools)
      .where(eq(grantTools.grantId, grantId)))
      .map((r) => r.toolId)
      .sort();

  it("deleting a tool removes it from every grant and leaves the rest of each grant alone", async () => {
    const { forecast, alerts, radar } = server.toolIds as Record<string, string>;
    const a = await makeGrant(ctx, { userId, clientId, serverId: server.id, toolIds: [forecast!, alerts!] });
    const b = await makeGrant(ctx, { userId, clientId, serverId: server.id, toolIds: [alerts!, radar!] });
    // Through the servers module, as the owner's "Delete tool" does.
    expect(await deleteTool(ctx, userId, server.id, alerts!)).toBe(true);
    expect(await granted(a.grantId)).toEqual([forecast!].sort());
    expect(await granted(b.grantId)).toEqual([radar!].sort());
    expect((await ctx.db.select().from(grantTools).where(eq(grantTools.toolId, alerts!)))).toEqual([]);
    // The grants themselves and their tokens stay valid for the remaining tools.
    expect(await verifyAccessToken(ctx, a.tokens.accessToken)).not.toBeNull();
    expect((await listConnections(ctx, userId)).map((c) => c.tools.map((t) => t.name))).toEqual(expect.arrayContaining([["forecast"], ["radar"]]));
  });

  it("adding a tool later does not add it to existing grants", async () => {
    const { forecast } = server.toolIds as Record<string, string>;
    const a = await makeGrant(ctx, { userId, clientId, serverId: server.id, toolIds: [forecast!] });
    const all = await makeGrant(ctx, { userId, clientId, serverId: server.id, toolIds: Object.values(server.toolIds) });
    const beforeA = await granted(a.grantId);
    const beforeAll = await granted(all.grantId);
    const newTool = (await addToolAsOwner(ctx, userId, server.id, {
      name: "tides",
      description: "Tide tables",
      inputSchema: { type: "object" },
      endpoint: { url: "https://tools.example/tides" },
    }))!.id;
    expect(await granted(a.grantId)).toEqual(beforeA);
    expect(await granted(all.grantId)).toEqual(beforeAll);
    expect(await granted(all.grantId)).not.toContain(newTool);
    expect((await listConnections(ctx, userId)).flatMap((c) => c.tools.map((t) => t.name))).not.toContain("tides");
  });

  it("deleting a server ends all its grants and tokens: access tokens no longer verify", async () => {
    const other = await makeServer(ctx, userId, "Notes", ["search"]);
    const a = await makeGrant(ctx, { userId, clientId, serverId: server.id, toolIds: Object.values(server.toolIds) });
    const b = await makeGrant(ctx, { userId, clientId, serverId: server.id, toolIds: [] });
    const keep = await makeGrant(ctx, { userId, clientId, serverId: other.id, toolIds: Object.values(other.toolIds) });
    expect(await verifyAccessToken(ctx, a.tokens.accessToken)).not.toBeNull();

    expect(await deleteServer(ctx, userId, server.id)).toBe(true);

    for (const g of [a, b]) {
      expect(await verifyAccessToken(ctx, g.tokens.accessToken)).toBeNull();
      expect((await ctx.db.select().from(grants).where(eq(grants.id, g.grantId)).limit(1))[0]).toBeUndefined();
      expect((await ctx.db.select().from(grantTools).where(eq(grantTools.grantId, g.grantId)))).toEqual([]);
      expect((await ctx.db.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, secretHash(g.tokens.refreshToken!))).limit(1))[0]).toBeUndefined();
    }
    expect((await ctx.db.select().from(accessTokens).where(eq(accessTokens.serverId, server.id)))).toEqual([]);
    expect(await verifyAccessToken(ctx, keep.tokens.accessToken)).not.toBeNull();
    expect((await listConnections(ctx, userId)).map((c) => c.serverName)).toEqual(["Notes"]);
  });
});
