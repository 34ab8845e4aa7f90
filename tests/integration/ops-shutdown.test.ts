import { EventEmitter } from "node:events";
import http from "node:http";
import { eq } from "drizzle-orm";
import { afterEach, describe, expect, it } from "vitest";
import { isDraining, markDraining, onShutdown } from "~/http/lifecycle.server";
import { readiness } from "~/http/health.server";
import type { ProtocolAnswer } from "~/http/protocol.server";
import { PROTOCOL_ROUTES, type ProtocolRoute } from "~/http/routes.server";
import { serveUntilSignal, startHttpServer as startServer } from "~/http/server.server";
import { createTestContext, type TestContext } from "../helpers/context";

// Routes that take a while, added to the real table for this file's servers only.
const SLOW_MS = 400;
let finishedRequests = 0;
const crash = () => ({ status: 500, headers: {}, body: null });
const testRoutes: ProtocolRoute[] = [
  ...PROTOCOL_ROUTES,
  {
    pattern: /^\/__test\/slow$/,
    handler: async () => {
      await new Promise((r) => setTimeout(r, SLOW_MS));
      finishedRequests++;
      return { status: 200, headers: { "Content-Type": "text/plain" }, body: "done" };
    },
    crash,
  },
  { pattern: /^\/__test\/hang$/, handler: () => new Promise<ProtocolAnswer>(() => {}), crash },
];
const startHttpServer = (options: Parameters<typeof startServer>[0]) => startServer({ ...options, routes: testRoutes });

/** A GET on its own keep-alive agent, so the connection is busy and not idle. */
function get(url: string, agent?: http.Agent): Promise<{ status: number; body: string; connection?: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode!, body, connection: res.headers.connection }));
      })
      .on("error", reject);
  });
}

async function until(check: () => boolean, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

let ctx: TestContext | undefined;
afterEach(async () => {
  markDraining(false);
  ctx?.cleanup();
  ctx = undefined;
});

describe("graceful shutdown", () => {
  it("SIGTERM during requests: all finish with 200, then hooks run, then the database closes", async () => {
    ctx = createTestContext();
    const c = ctx;
    const running = await startHttpServer({ ctx: c, port: 0, host: "127.0.0.1" });
    const signals = new EventEmitter();
    const order: string[] = [];
    const removeHook = onShutdown("test-flush", async () => {
      order.push(`hook after ${finishedRequests} finished requests, db open: ${!c.store.closed}`);
      await c.db.insert(c.store.tables.signInThrottle).values({ key: "flushed", failures: 1, firstFailureAt: 0, blockedUntil: 0 });
    });
    const serving = serveUntilSignal(c, running, { graceMs: 5000, signals });
    expect(await readiness(c)).toEqual({ ready: true });

    const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
    finishedRequests = 0;
    const requests = Array.from({ length: 25 }, () => get(`${running.url}/__test/slow`, agent));
    await until(() => running.inFlight() === 25);
    signals.emit("SIGTERM", "SIGTERM");

    expect(isDraining()).toBe(true);
    expect(await readiness(c)).toEqual({ ready: false, reason: "shutting down" });
    const results = await Promise.all(requests);
    expect(results.map((r) => r.status)).toEqual(Array(25).fill(200));
    expect(results.every((r) => r.body === "done")).toBe(true);
    // Kept-alive connections are told to close, so clients do not reuse a dying server.
    expect(results.every((r) => r.connection === "close")).toBe(true);

    await serving;
    removeHook();
    expect(order).toEqual(["hook after 25 finished requests, db open: true"]);
    expect(c.store.closed).toBe(true);
    // New connections are refused once the listener closed.
    await expect(get(`${running.url}/healthz`)).rejects.toThrow(/ECONNREFUSED/);
    agent.destroy();
    const logs = c.logs.map((l) => JSON.parse(l));
    expect(logs.some((l) => l.msg === "shutting down" && l.signal === "SIGTERM" && l.inFlight === 25)).toBe(true);
    expect(logs.at(-1).msg).toBe("stopped");
  });

  it("the flushed write is in the database after the shutdown", async () => {
    ctx = createTestContext();
    const running = await startHttpServer({ ctx, port: 0, host: "127.0.0.1" });
    const signals = new EventEmitter();
    const removeHook = onShutdown("test-flush-2", async (hctx) => {
      await hctx.db.insert(hctx.store.tables.signInThrottle).values({ key: "flushed-2", failures: 1, firstFailureAt: 0, blockedUntil: 0 });
    });
    const serving = serveUntilSignal(ctx, running, { signals });
    signals.emit("SIGINT", "SIGINT");
    await serving;
    removeHook();
    expect(ctx.store.closed).toBe(true);
    // Read back on a connection opened after the app's closed.
    const reopened = ctx.openReplicaStore();
    try {
      const { signInThrottle } = reopened.tables;
      expect(await reopened.db.select({ key: signInThrottle.key }).from(signInThrottle).where(eq(signInThrottle.key, "flushed-2"))).toEqual([{ key: "flushed-2" }]);
    } finally {
      await reopened.close();
    }
  });

  it("a second signal forces the exit without waiting for a stuck request", async () => {
    ctx = createTestContext();
    const running = await startHttpServer({ ctx, port: 0, host: "127.0.0.1" });
    const signals = new EventEmitter();
    let forced = 0;
    void serveUntilSignal(ctx, running, { graceMs: 60_000, signals, forceExit: () => forced++ });
    const stuck = get(`${running.url}/__test/hang`).catch(() => "cut");
    await until(() => running.inFlight() === 1);
    signals.emit("SIGTERM", "SIGTERM");
    await new Promise((r) => setTimeout(r, 100));
    expect(forced).toBe(0);
    signals.emit("SIGTERM", "SIGTERM");
    expect(forced).toBe(1);
    running.server.closeAllConnections();
    expect(await stuck).toBe("cut");
    expect(ctx.logs.some((l) => JSON.parse(l).msg === "second signal: exiting without waiting")).toBe(true);
  });

  it("after the grace period open connections are cut and the shutdown completes", async () => {
    ctx = createTestContext();
    const running = await startHttpServer({ ctx, port: 0, host: "127.0.0.1" });
    const signals = new EventEmitter();
    const serving = serveUntilSignal(ctx, running, { graceMs: 200, signals });
    const stuck = get(`${running.url}/__test/hang`).catch(() => "cut");
    await until(() => running.inFlight() === 1);
    signals.emit("SIGTERM", "SIGTERM");
    await serving;
    expect(await stuck).toBe("cut");
    expect(ctx.store.closed).toBe(true);
    expect(ctx.logs.some((l) => JSON.parse(l).level === "error")).toBe(false);
    expect(ctx.logs.some((l) => JSON.parse(l).msg === "grace period over: open connections were closed")).toBe(true);
  });
});
