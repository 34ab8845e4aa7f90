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
  let server: ReturnType<typeof makeServer>;
  let clientId: string;

  beforeEach(async () => {
    ctx = createTestContext();
    userId = (await makeUser(ctx)).id;
    server = makeServer(ctx, userId, "Weather", ["forecast", "alerts", "radar"]);
    clientId = makeClient(ctx).id;
  });
  afterEach(() => ctx.cleanup());

  const granted = (grantId: string) =>
    ctx.db
      .select({ toolId: grantTools.toolId })
      .from(grantTools)
      .where(eq(grantTools.grantId, grantId))
      .all()
      .map((r) => r.toolId)
      .sort();

  it("deleting a tool removes it from every grant and leaves the rest of each grant alone", () => {
    const { forecast, alerts, radar } = server.toolIds as Record<string, string>;
    const a = makeGrant(ctx, { userId, clientId, serverId: server.id, toolIds: [forecast!, alerts!] });
    const b = makeGrant(ctx, { userId, clientId, serverId: server.id, toolIds: [alerts!, radar!] });
    // Through the servers module, as the owner's "Delete tool" does.
    expect(deleteTool(ctx, userId, server.id, alerts!)).toBe(true);
    expect(granted(a.grantId)).toEqual([forecast!].sort());
    expect(granted(b.grantId)).toEqual([radar!].sort());
    expect(ctx.db.select().from(grantTools).where(eq(grantTools.toolId, alerts!)).all()).toEqual([]);
    // The grants themselves and their tokens stay valid for the remaining tools.
    expect(verifyAccessToken(ctx, a.tokens.accessToken)).not.toBeNull();
    expect(listConnections(ctx, userId).map((c) => c.tools.map((t) => t.name))).toEqual(expect.arrayContaining([["forecast"], ["radar"]]));
  });

  it("adding a tool later does not add it to existing grants", () => {
    const { forecast } = server.toolIds as Record<string, string>;
    const a = makeGrant(ctx, { userId, clientId, serverId: server.id, toolIds: [forecast!] });
    const all = makeGrant(ctx, { userId, clientId, serverId: server.id, toolIds: Object.values(server.toolIds) });
    const beforeA = granted(a.grantId);
    const beforeAll = granted(all.grantId);
    const newTool = addToolAsOwner(ctx, userId, server.id, {
      name: "tides",
      description: "Tide tables",
      inputSchema: { type: "object" },
      endpoint: { url: "https://tools.example/tides" },
    })!.id;
    expect(granted(a.grantId)).toEqual(beforeA);
    expect(granted(all.grantId)).toEqual(beforeAll);
    expect(granted(all.grantId)).not.toContain(newTool);
    expect(listConnections(ctx, userId).flatMap((c) => c.tools.map((t) => t.name))).not.toContain("tides");
  });

  it("deleting a server ends all its grants and tokens: access tokens no longer verify", () => {
    const other = makeServer(ctx, userId, "Notes", ["search"]);
    const a = makeGrant(ctx, { userId, clientId, serverId: server.id, toolIds: Object.values(server.toolIds) });
    const b = makeGrant(ctx, { userId, clientId, serverId: server.id, toolIds: [] });
    const keep = makeGrant(ctx, { userId, clientId, serverId: other.id, toolIds: Object.values(other.toolIds) });
    expect(verifyAccessToken(ctx, a.tokens.accessToken)).not.toBeNull();

    expect(deleteServer(ctx, userId, server.id)).toBe(true);

    for (const g of [a, b]) {
      expect(verifyAccessToken(ctx, g.tokens.accessToken)).toBeNull();
      expect(ctx.db.select().from(grants).where(eq(grants.id, g.grantId)).get()).toBeUndefined();
      expect(ctx.db.select().from(grantTools).where(eq(grantTools.grantId, g.grantId)).all()).toEqual([]);
      expect(ctx.db.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, secretHash(g.tokens.refreshToken!))).get()).toBeUndefined();
    }
    expect(ctx.db.select().from(accessTokens).where(eq(accessTokens.serverId, server.id)).all()).toEqual([]);
    expect(verifyAccessToken(ctx, keep.tokens.accessToken)).not.toBeNull();
    expect(listConnections(ctx, userId).map((c) => c.serverName)).toEqual(["Notes"]);
  });
});
