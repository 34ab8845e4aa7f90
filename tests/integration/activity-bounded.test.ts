import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { activityClients } from "~/access/activity.server";
import { boundedActivityReads } from "../helpers/activity";
import { createTestContext, type TestContext } from "../helpers/context";
import { grantAccess, seedServer } from "../helpers/mcp";

/**
 * Decision 026: the Activity page costs the same whatever the number of a server's events. A
 * client makes one event per tool call, so it chooses that number; every read here must follow an
 * index (measured in CPU time, which a loaded machine does not inflate).
 */
describe("decision 026: the Activity page reads a bounded number of rows", () => {
  let ctx: TestContext;
  let serverId: string;
  let clients: string[];
  const EVENTS = 200_000;

  beforeAll(async () => {
    ctx = createTestContext();
    const seeded = await seedServer(ctx, "http://127.0.0.1:9", [{ name: "echo", path: "/echo" }]);
    serverId = seeded.serverId;
    clients = [];
    for (let i = 0; i < 5; i++) clients.push((await grantAccess(ctx, seeded, ["echo"])).clientId);
    const insert = ctx.store.sqlite.prepare(
      "insert into audit_events (at, kind, server_id, user_id, client_id, grant_id, actor, detail) values (?, ?, ?, ?, ?, null, ?, ?)",
    );
    ctx.store.sqlite.transaction(() => {
      // One client calls tools all day; the others did one thing each, long ago; one event has no client.
      for (let i = 1; i < clients.length; i++)
        insert.run(i, "authorization.approved", serverId, seeded.userId, clients[i], seeded.userId, "{}");
      insert.run(10, "grant.revoked", serverId, seeded.userId, null, seeded.userId, "{}");
      for (let i = 0; i < EVENTS; i++)
        insert.run(
          100 + i,
          "tool.called",
          serverId,
          seeded.userId,
          clients[0],
          `client:${clients[0]}`,
          '{"tool":"echo","outcome":"ok"}',
        );
    })();
  });

  afterAll(() => ctx.cleanup());

  async function cpuMs<T>(fn: () => Promise<T>): Promise<{ value: T; cost: number }> {
    await fn();
    const before = process.cpuUsage();
    const value = await fn();
    const used = process.cpuUsage(before);
    return { value, cost: (used.user + used.system) / 1000 };
  }

  it("lists the distinct clients by index seeks, not by reading every event", async () => {
    const { value, cost: ms } = await cpuMs(() => activityClients(ctx, serverId));
    expect(value.flatMap((c) => c.clientIds).sort()).toEqual([...clients].sort());
    expect(ms).toBeLessThan(20);
  });

  it("the first page, a page of one kind and a page of one client come from the index", async () => {
    const ms = await boundedActivityReads(ctx, serverId, clients, cpuMs);
    console.info(`activity reads over ${EVENTS} events: ${ms.map((m) => m.toFixed(1)).join(", ")} ms CPU`);
    for (const m of ms) expect(m).toBeLessThan(20);
  });
});
