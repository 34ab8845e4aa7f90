import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { activityClients } from "~/access/activity.server";
import type { PostgresStore } from "~/db/store.server";
import { boundedActivityReads } from "../helpers/activity";
import { createTestContext, type TestContext } from "../helpers/context";
import { grantAccess, seedServer } from "../helpers/mcp";

/**
 * Decision 026 on PostgreSQL: the Activity page reads a bounded number of rows whatever the number
 * of a server's events (a client chooses that number: one event per tool call). The test process's
 * CPU time does not see the database server's work (activity-bounded.test.ts measures SQLite that
 * way), so this file captures the statements the page's reads send and asks PostgreSQL, with
 * EXPLAIN ANALYZE, how many audit_events rows each one examined.
 */
type PlanNode = {
  "Relation Name"?: string;
  "Actual Rows"?: number;
  "Actual Loops"?: number;
  "Rows Removed by Filter"?: number;
  "Rows Removed by Index Recheck"?: number;
  Plans?: PlanNode[];
};

/** Rows of audit_events a plan read: returned or removed by a filter, over every loop. */
function auditRowsExamined(node: PlanNode): number {
  const own =
    node["Relation Name"] === "audit_events"
      ? ((node["Actual Rows"] ?? 0) + (node["Rows Removed by Filter"] ?? 0) + (node["Rows Removed by Index Recheck"] ?? 0)) *
        (node["Actual Loops"] ?? 1)
      : 0;
  return own + (node.Plans ?? []).reduce((sum, child) => sum + auditRowsExamined(child), 0);
}

describe("decision 026 on PostgreSQL: the Activity page reads a bounded number of rows", () => {
  let ctx: TestContext;
  let store: PostgresStore;
  let serverId: string;
  let clients: string[];
  const EVENTS = 200_000;

  beforeAll(async () => {
    ctx = createTestContext();
    store = ctx.store as PostgresStore;
    const seeded = await seedServer(ctx, "http://127.0.0.1:9", [{ name: "echo", path: "/echo" }]);
    serverId = seeded.serverId;
    clients = [];
    for (let i = 0; i < 5; i++) clients.push((await grantAccess(ctx, seeded, ["echo"])).clientId);
    const insert = "insert into audit_events (at, kind, server_id, user_id, client_id, actor, detail) values ($1, $2, $3, $4, $5, $6, '{}')";
    // One client calls tools all day; the others did one thing each, long ago; one event has no client.
    for (let i = 1; i < clients.length; i++) await store.pool.query(insert, [i, "authorization.approved", serverId, seeded.userId, clients[i], seeded.userId]);
    await store.pool.query(insert, [10, "grant.revoked", serverId, seeded.userId, null, seeded.userId]);
    await store.pool.query(
      `insert into audit_events (at, kind, server_id, user_id, client_id, actor, detail)
       select 100 + n, 'tool.called', $1, $2, $3, $4, '{"tool":"echo","outcome":"ok"}' from generate_series(1, $5::int) n`,
      [serverId, seeded.userId, clients[0], `client:${clients[0]}`, EVENTS],
    );
    // As autovacuum would have by then: the planner knows the table is large.
    await store.pool.query("analyze audit_events");
  }, 120_000);

  afterAll(() => ctx.cleanup());

  /** Runs `read`, then EXPLAIN ANALYZEs every statement it sent that reads audit_events. */
  async function examined<T>(read: () => Promise<T>): Promise<{ value: T; cost: number[] }> {
    const sent: { text: string; values: unknown[] }[] = [];
    const original = store.pool.query.bind(store.pool) as (...args: unknown[]) => Promise<unknown>;
    (store.pool as unknown as { query: (...args: unknown[]) => Promise<unknown> }).query = (...args: unknown[]) => {
      const [first, second] = args as [string | pg.QueryConfig, unknown[] | undefined];
      if (typeof first === "string") sent.push({ text: first, values: second ?? [] });
      else sent.push({ text: first.text, values: first.values ?? second ?? [] });
      return original(...args);
    };
    let value: T;
    try {
      value = await read();
    } finally {
      delete (store.pool as unknown as { query?: unknown }).query;
    }
    const reads = sent.filter((s) => /audit_events/.test(s.text));
    expect(reads.length).toBeGreaterThan(0);
    const rows: number[] = [];
    for (const s of reads) {
      const result = await store.pool.query<{ "QUERY PLAN": [{ Plan: PlanNode }] }>(`explain (analyze, format json) ${s.text}`, s.values);
      rows.push(auditRowsExamined(result.rows[0]!["QUERY PLAN"][0].Plan));
    }
    return { value, cost: rows };
  }

  it("lists the distinct clients by index seeks, not by reading every event", async () => {
    const { value, cost: rows } = await examined(() => activityClients(ctx, serverId));
    expect(value.flatMap((c) => c.clientIds).sort()).toEqual([...clients].sort());
    for (const n of rows) expect(n).toBeLessThan(100);
  });

  it("the first page, a page of one kind and a page of one client come from the index", async () => {
    const reads = await boundedActivityReads(ctx, serverId, clients, examined);
    console.info(`activity reads over ${EVENTS} events on PostgreSQL: ${reads.map((rows) => rows.join("+")).join(", ")} audit rows examined`);
    for (const rows of reads) for (const n of rows) expect(n).toBeLessThan(100);
  });
});
