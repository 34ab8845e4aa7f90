import { afterEach, describe, expect, it, vi } from "vitest";
import { runShutdownHooks } from "~/http/lifecycle.server";
import { startOAuthCleanup } from "~/oauth/cleanup.server";
import { createTestContext } from "../helpers/context";

describe("periodic OAuth cleanup and shutdown", () => {
  afterEach(() => vi.useRealTimers());

  it("stops at shutdown, before the database closes, so no run hits a closed connection", async () => {
    vi.useFakeTimers();
    const ctx = createTestContext();
    const stop = startOAuthCleanup(ctx, 60_000);
    await runShutdownHooks(ctx);
    ctx.cleanup();
    await vi.advanceTimersByTimeAsync(5 * 60_000);
    expect(ctx.logs.filter((l) => l.includes("oauth cleanup failed"))).toEqual([]);
    stop();
  });

  it("runs while the server is up", async () => {
    vi.useFakeTimers();
    const ctx = createTestContext();
    const stop = startOAuthCleanup(ctx, 60_000);
    // The connection goes away underneath the job (SQLite's one connection, PostgreSQL's pool).
    if (ctx.store.dialect === "sqlite") ctx.store.sqlite.close();
    else await ctx.store.pool.end();
    await vi.advanceTimersByTimeAsync(11_000);
    // The run happened (and, with the connection closed underneath it, failed loudly).
    expect(ctx.logs.some((l) => l.includes("oauth cleanup failed"))).toBe(true);
    stop();
    ctx.cleanup();
  });
});
