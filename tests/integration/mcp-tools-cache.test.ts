/**
 * tools/list answers are cached per grant, keyed by mcp_servers.tools_version, which database
 * triggers bump (drizzle/0002_tools_version_triggers.sql). Every change to what a client may see
 * shows on its very next tools/list, whoever made it: the app, or another process writing the same
 * database (the CLI, another replica), which the app's memory knows nothing about. Both dialects:
 * PostgreSQL's triggers are drizzle-postgres/0002.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "~/http/server.server";
import { createOrUpdateGrant } from "~/oauth/grants.server";
import { addTool, deleteTool, listTools, updateTool } from "~/servers/servers.server";
import { createTestContext, type TestContext } from "../helpers/context";
import { onPostgres } from "../helpers/postgres-store";
import { startProtocolServer } from "../helpers/http";
import { connectClient, grantAccess, seedServer, startToolEndpoint } from "../helpers/mcp";

describe("tools/list cache", () => {
  let ctx: TestContext;
  let app: RunningServer;
  let endpoint: Awaited<ReturnType<typeof startToolEndpoint>>;
  let seeded: { userId: string; serverId: string };

  beforeAll(async () => {
    ctx = createTestContext();
    endpoint = await startToolEndpoint();
    seeded = await seedServer(ctx, endpoint.url, [
      { name: "alpha", path: "/a" },
      { name: "beta", path: "/b" },
      { name: "gamma", path: "/c" },
    ]);
    app = await startProtocolServer(ctx);
  });
  // Plain SQL on a connection of the test's own, not through the app's code: what `toolgate tool …`
  // in another process (or another replica) would write.
  const other = (sql: string, ...params: unknown[]) => ctx.queryRows<Record<string, unknown>>(sql, ...params);

  afterAll(async () => {
    await app.close(100);
    await endpoint.close();
    ctx.cleanup();
  });

  const listed = async (accessToken: string) => {
    const client = await connectClient(`${app.url}/mcp/${seeded.serverId}`, accessToken);
    try {
      const { tools } = await client.listTools();
      return tools.map((t) => `${t.name}: ${t.description}`);
    } finally {
      await client.close();
    }
  };
  const toolId = async (name: string) => (await listTools(ctx, seeded.userId, seeded.serverId))!.find((t) => t.name === name)!.id;

  it("the migrations install the version column and its triggers", async () => {
    const triggers = onPostgres
      ? await other("select tgname as name from pg_trigger where tgname like 'tools_version_%' order by tgname")
      : await other("select name from sqlite_master where type = 'trigger' and name like 'tools_version_%' order by name");
    expect(triggers.map((t) => t.name)).toEqual(
      onPostgres
        ? ["tools_version_on_grant_tool", "tools_version_on_tool"]
        : [
            "tools_version_on_grant_tool_delete",
            "tools_version_on_grant_tool_insert",
            "tools_version_on_tool_delete",
            "tools_version_on_tool_insert",
            "tools_version_on_tool_update",
          ],
    );
    expect(await ctx.countRows("select count(*) from mcp_servers where tools_version is not null")).toBeGreaterThan(0);
  });

  it("shows edits, deletions and re-consent made by the app or by another process at once", async () => {
    const access = await grantAccess(ctx, seeded, ["alpha", "beta"]);
    const token = access.tokens.accessToken;
    expect(await listed(token)).toEqual(["alpha: The alpha tool", "beta: The beta tool"]);
    // Cached now: a second answer is the same.
    expect(await listed(token)).toEqual(["alpha: The alpha tool", "beta: The beta tool"]);

    // Edited in the app.
    const alpha = (await listTools(ctx, seeded.userId, seeded.serverId))!.find((t) => t.name === "alpha")!;
    await updateTool(ctx, seeded.userId, seeded.serverId, alpha.id, {
      name: "alpha",
      description: "Edited in the app",
      inputSchema: { type: "object" },
      endpoint: { url: `${endpoint.url}/a` },
    });
    expect(await listed(token)).toEqual(["alpha: Edited in the app", "beta: The beta tool"]);

    // Edited by another process, with the same updated_at (a clock that did not move): the cached
    // answer and the per-tool description cache must both give way.
    const [{ updated_at: updatedAt }] = (await other("select updated_at from tools where id = ?", alpha.id)) as [{ updated_at: unknown }];
    await other("update tools set description = ?, updated_at = ? where id = ?", "Edited elsewhere", updatedAt, alpha.id);
    expect(await listed(token)).toEqual(["alpha: Edited elsewhere", "beta: The beta tool"]);

    // Deleted by another process.
    await other("delete from tools where id = ?", await toolId("beta"));
    expect(await listed(token)).toEqual(["alpha: Edited elsewhere"]);

    // Re-consent with another set of tools rewrites the grant's list.
    const gamma = await toolId("gamma");
    await ctx.store.transaction((tx) =>
      createOrUpdateGrant(ctx, tx, {
        userId: seeded.userId,
        clientId: access.clientId,
        serverId: seeded.serverId,
        scope: "mcp:tools",
        toolIds: [gamma],
      }),
    );
    expect(await listed(token)).toEqual(["gamma: The gamma tool"]);

    // A tool added later is not granted, and deleting one in the app is seen as well.
    await addTool(ctx, seeded.userId, seeded.serverId, {
      name: "delta",
      description: "New",
      inputSchema: { type: "object" },
      endpoint: { url: `${endpoint.url}/d` },
    });
    expect(await listed(token)).toEqual(["gamma: The gamma tool"]);
    await deleteTool(ctx, seeded.userId, seeded.serverId, await toolId("gamma"));
    expect(await listed(token)).toEqual([]);
  });

  it("two grants on one server keep their own lists", async () => {
    const a = await grantAccess(ctx, seeded, ["alpha"]);
    const b = await grantAccess(ctx, seeded, ["alpha", "delta"]);
    expect(await listed(a.tokens.accessToken)).toEqual(["alpha: Edited elsewhere"]);
    expect(await listed(b.tokens.accessToken)).toEqual(["alpha: Edited elsewhere", "delta: New"]);
  });

  it("a cached list is sent byte for byte as JSON.stringify would send the answer, for any id and in batches", async () => {
    const access = await grantAccess(ctx, seeded, ["alpha", "delta"]);
    const post = async (body: unknown) => {
      const response = await fetch(`${app.url}/mcp/${seeded.serverId}`, {
        method: "POST",
        headers: {
          Authorization: `Bearer ${access.tokens.accessToken}`,
          "Content-Type": "application/json",
          Accept: "application/json, text/event-stream",
        },
        body: JSON.stringify(body),
      });
      expect(response.status).toBe(200);
      return response.text();
    };
    for (const id of [1, 0, -7, "a\"quoted\"\u2028id", "x".repeat(300)]) {
      // Twice: the first answer fills the cache, the second is served from it.
      for (let i = 0; i < 2; i++) {
        const text = await post({ jsonrpc: "2.0", id, method: "tools/list" });
        const parsed = JSON.parse(text) as { id: unknown; result: { tools: { name: string }[] } };
        expect(text).toBe(JSON.stringify(parsed));
        expect(parsed.id).toBe(id);
        expect(parsed.result.tools.map((t) => t.name)).toEqual(["alpha", "delta"]);
      }
    }
    const batch = await post([
      { jsonrpc: "2.0", id: 1, method: "tools/list" },
      { jsonrpc: "2.0", id: 2, method: "ping" },
      { jsonrpc: "2.0", id: 3, method: "tools/list" },
    ]);
    const answers = JSON.parse(batch) as { id: number; result: { tools?: unknown[] } }[];
    expect(batch).toBe(JSON.stringify(answers));
    expect(answers.map((a) => a.id)).toEqual([1, 2, 3]);
    expect(answers[0]!.result.tools).toHaveLength(2);
    expect(answers[1]!.result).toEqual({});
  });
});
