import fs from "node:fs";
import path from "node:path";
import type { ServerBuild } from "@remix-run/node";
import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { describeEvent } from "~/access/activity.server";
import { exportAuditEvents } from "~/access/export.server";
import { pruneAuditEvents, startAccessJobs } from "~/access/retention.server";
import { runShutdownHooks } from "~/http/lifecycle.server";
import { runCli } from "~/cli/main.server";
import { auditEvents } from "~/db/schema";
import { recordAudit } from "~/oauth/audit.server";
import { loader as activityLoader } from "~/routes/servers.$serverId_.activity";
import { createTestContext, type TestContext } from "../helpers/context";
import { loadContext } from "../helpers/http";
import { makeClient, makeServer, makeUser } from "./access-fixtures";

const BASE = "http://localhost:3000";
const DAY = 24 * 60 * 60 * 1000;

type ActivityData = {
  events: { id: number; kind: string; description: string; clientName: string | null }[];
  nextBefore: number | null;
  clients: { id: string; name: string }[];
};

async function getActivity(ctx: TestContext, serverId: string, cookie: string, query = "") {
  const request = new Request(`${BASE}/servers/${serverId}/activity${query}`, { headers: { Cookie: cookie } });
  try {
    return (await activityLoader({ request, context: loadContext(ctx), params: { serverId } })) as Response;
  } catch (thrown) {
    if (thrown instanceof Response) return thrown;
    throw thrown;
  }
}

async function record(ctx: TestContext, event: Parameters<typeof recordAudit>[2]) {
  await recordAudit(ctx, ctx.db, event);
  ctx.advance(1_000);
}

describe("Activity page", () => {
  let ctx: TestContext;
  let ada: Awaited<ReturnType<typeof makeUser>>;
  let bob: Awaited<ReturnType<typeof makeUser>>;
  let server: Awaited<ReturnType<typeof makeServer>>;
  let bobServer: Awaited<ReturnType<typeof makeServer>>;
  let desktop: { id: string };
  let editor: { id: string };

  beforeEach(async () => {
    ctx = createTestContext();
    ada = await makeUser(ctx, "ada");
    bob = await makeUser(ctx, "bob");
    server = await makeServer(ctx, ada.id, "Weather");
    bobServer = await makeServer(ctx, bob.id, "Other");
    desktop = await makeClient(ctx, { name: "Claude Desktop" });
    editor = await makeClient(ctx, { name: "Editor" });
  });
  afterEach(() => ctx.cleanup());

  it("lists events newest first with readable descriptions, filters by client and kind, pages by id", async () => {
    const s = server.id;
    await record(ctx, { kind: "authorization.approved", serverId: s, clientId: desktop.id, userId: ada.id, actor: ada.id, detail: { tools: ["forecast", "alerts"] } });
    await record(ctx, { kind: "token.issued", serverId: s, clientId: desktop.id, actor: `client:${desktop.id}` });
    for (let i = 0; i < 60; i++) {
      await record(ctx, { kind: "tool.called", serverId: s, clientId: editor.id, actor: `client:${editor.id}`, detail: { tool: "forecast", outcome: "ok", durationMs: 12 } });
    }
    await record(ctx, { kind: "tool.called", serverId: s, clientId: desktop.id, actor: `client:${desktop.id}`, detail: { tool: "radar", outcome: "refused", durationMs: 0 } });
    await record(ctx, { kind: "grant.revoked", serverId: s, clientId: desktop.id, userId: ada.id, actor: ada.id });
    // Another server's event never shows up here.
    await record(ctx, { kind: "tool.called", serverId: bobServer.id, clientId: desktop.id, detail: { tool: "secret" } });

    const first = await getActivity(ctx, s, ada.cookie);
    expect(first.status).toBe(200);
    const page1 = (await first.json()) as ActivityData;
    expect(page1.events).toHaveLength(50);
    expect(page1.events[0]!.description).toBe(`${ada.email} revoked the access of Claude Desktop; its tokens stopped working`);
    expect(page1.events[1]!.description).toBe("Claude Desktop called radar: refused (the endpoint was not called)");
    expect(page1.events[2]!.description).toBe("Editor called forecast successfully in 12 ms");
    const ids = page1.events.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    expect(page1.clients.map((c) => c.name)).toEqual(["Claude Desktop", "Editor"]);

    const second = (await (await getActivity(ctx, s, ada.cookie, `?before=${page1.nextBefore}`)).json()) as ActivityData;
    expect(second.events).toHaveLength(14);
    expect(second.nextBefore).toBeNull();
    expect(second.events[0]!.id).toBeLessThan(ids[ids.length - 1]!);
    expect(second.events.at(-1)!.description).toBe(`${ada.email} approved Claude Desktop for forecast, alerts`);
    expect(second.events.at(-2)!.description).toBe("Claude Desktop received new tokens");
    expect(new Set([...ids, ...second.events.map((e) => e.id)]).size).toBe(64);

    const byClient = (await (await getActivity(ctx, s, ada.cookie, `?client=${encodeURIComponent(desktop.id)}`)).json()) as ActivityData;
    expect(byClient.events.map((e) => e.kind)).toEqual(["grant.revoked", "tool.called", "token.issued", "authorization.approved"]);

    const byKind = (await (await getActivity(ctx, s, ada.cookie, `?kind=tool.called&client=${encodeURIComponent(desktop.id)}`)).json()) as ActivityData;
    expect(byKind.events.map((e) => e.description)).toEqual(["Claude Desktop called radar: refused (the endpoint was not called)"]);

    // Malformed paging input is ignored rather than failing the page.
    const junk = await getActivity(ctx, s, ada.cookie, "?before=abc");
    expect(((await junk.json()) as ActivityData).events).toHaveLength(50);
  });

  it("another user's server (or an unknown id) answers 404", async () => {
    await record(ctx, { kind: "tool.called", serverId: bobServer.id, clientId: desktop.id, detail: { tool: "secret" } });
    expect((await getActivity(ctx, bobServer.id, ada.cookie)).status).toBe(404);
    expect((await getActivity(ctx, "missing", ada.cookie)).status).toBe(404);
    const bobs = (await (await getActivity(ctx, bobServer.id, bob.cookie)).json()) as ActivityData;
    expect(bobs.events).toHaveLength(1);
  });

  it("describes every kind the product records, and never prints the detail blindly", async () => {
    const cases: [string, Record<string, unknown>, string][] = [
      ["authorization.denied", {}, "ada@example.test denied App access"],
      ["token.refreshed", {}, "App refreshed its tokens"],
      ["token.revoked", {}, "App revoked a token"],
      ["token.revoked", { tokenType: "refresh_token" }, "App revoked its refresh token (and the tokens issued with it)"],
      ["token.revoked", { tokenType: "access_token" }, "App revoked an access token"],
      ["code.reuse_detected", {}, "An authorization code of App was used twice; the tokens issued for it were revoked"],
      ["refresh.reuse_detected", {}, "An old refresh token of App was used again; its tokens were revoked as a precaution"],
      ["tool.called", { tool: "x", outcome: "error", durationMs: 3.4 }, "App called x and the tool reported an error in 3 ms"],
      ["tool.called", { tool: "x", outcome: "timeout" }, 'App called x with outcome "timeout"'],
      ["authorization.approved", { tools: [] }, "ada@example.test approved App for no tools"],
      ["something.new", { secret: "s3cr3t" }, "something.new (App)"],
    ];
    for (const [kind, detail, text] of cases) expect(describeEvent(kind, detail, "App", "ada@example.test")).toBe(text);
  });
});

describe("audit retention", () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = createTestContext({ TOOLGATE_AUDIT_RETENTION_DAYS: "7" });
  });
  afterEach(() => ctx.cleanup());

  it("prunes events older than the retention period and keeps the rest", async () => {
    await record(ctx, { kind: "token.issued", detail: { n: "old" } });
    ctx.advance(2 * DAY);
    await record(ctx, { kind: "token.issued", detail: { n: "recent" } });
    ctx.advance(5 * DAY);
    expect(await pruneAuditEvents(ctx)).toBe(1);
    const left = (await ctx.db.select().from(auditEvents));
    expect(left.map((e) => JSON.parse(e.detail).n)).toEqual(["recent"]);
    expect(await pruneAuditEvents(ctx)).toBe(0);
    expect(ctx.logs.some((l) => l.includes("audit events pruned"))).toBe(true);
  });

  it("startAccessJobs prunes at once, then on its timer, without keeping the process alive", async () => {
    await record(ctx, { kind: "token.issued" });
    ctx.advance(8 * DAY);
    const stop = startAccessJobs(ctx, 20);
    expect((await ctx.db.select().from(auditEvents))).toHaveLength(0);
    await record(ctx, { kind: "token.issued" });
    ctx.advance(8 * DAY);
    await new Promise((r) => setTimeout(r, 80));
    expect((await ctx.db.select().from(auditEvents))).toHaveLength(0);
    stop();
    await record(ctx, { kind: "token.issued" });
    ctx.advance(8 * DAY);
    await new Promise((r) => setTimeout(r, 60));
    expect((await ctx.db.select().from(auditEvents))).toHaveLength(1);
  });

  it("stops pruning at shutdown, before the database closes", async () => {
    startAccessJobs(ctx, 20);
    await runShutdownHooks(ctx);
    await record(ctx, { kind: "token.issued" });
    ctx.advance(8 * DAY);
    await new Promise((r) => setTimeout(r, 60));
    expect((await ctx.db.select().from(auditEvents))).toHaveLength(1);
  });
});

describe("npx toolgate audit export", () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = createTestContext();
  });
  afterEach(() => ctx.cleanup());

  async function cli(args: string[]) {
    let out = "";
    let err = "";
    const code = await runCli(args, {
      build: {} as ServerBuild,
      root: process.cwd(),
      env: { TOOLGATE_DATA_DIR: ctx.config.dataDir, TOOLGATE_LOG_LEVEL: "silent", ...ctx.databaseEnv },
      io: { out: (s) => void (out += s), err: (s) => void (err += s), readStdin: async () => "" },
    });
    return { code, out, err };
  }

  it("writes JSON lines, oldest first, filtered by server and time, to stdout or a file", async () => {
    const t0 = ctx.now();
    await record(ctx, { kind: "token.issued", serverId: "s1", clientId: "c1", actor: "client:c1", detail: { a: 1 } });
    await record(ctx, { kind: "tool.called", serverId: "s2", detail: { tool: "t" } });
    await record(ctx, { kind: "grant.revoked", serverId: "s1", actor: "u1" });

    const all = await cli(["audit", "export"]);
    expect(all.code).toBe(0);
    const lines = all.out.trimEnd().split("\n").map((l) => JSON.parse(l));
    expect(lines.map((l) => l.kind)).toEqual(["token.issued", "tool.called", "grant.revoked"]);
    expect(lines[0]).toEqual({
      id: lines[0].id,
      at: new Date(t0).toISOString(),
      kind: "token.issued",
      serverId: "s1",
      userId: null,
      clientId: "c1",
      grantId: null,
      actor: "client:c1",
      detail: { a: 1 },
    });

    const s1 = await cli(["audit", "export", "--server", "s1", "--since", new Date(t0 + 500).toISOString()]);
    expect(s1.out.trimEnd().split("\n").map((l) => JSON.parse(l).kind)).toEqual(["grant.revoked"]);

    const file = path.join(ctx.config.dataDir, "export.jsonl");
    const toFile = await cli(["audit", "export", "--to", file]);
    expect(toFile.code).toBe(0);
    expect(toFile.out).toBe("");
    expect(toFile.err).toBe(`Wrote 3 events to ${file}\n`);
    expect(fs.readFileSync(file, "utf8")).toBe(all.out);

    const bad = await cli(["audit", "export", "--since", "yesterday"]);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain("--since must be an ISO 8601 date");
  });

  it("reads large logs in batches without losing or repeating events", async () => {
    for (let i = 0; i < 25; i++) await record(ctx, { kind: "token.issued", detail: { i } });
    const exported = [];
    for await (const e of exportAuditEvents(ctx, { batchSize: 7 })) exported.push(e);
    const seen = exported.map((e) => (e.detail as { i: number }).i);
    expect(seen).toEqual([...Array(25).keys()]);
    expect((await ctx.db.select().from(auditEvents).where(eq(auditEvents.kind, "token.issued")))).toHaveLength(25);
  });
});
