/**
 * Rate limiting at dispatch (app/http/server.server.ts + app/http/rate-limit.server.ts), over real
 * HTTP: 429 with Retry-After (never 400/401), keyed by the client address (X-Forwarded-For only from
 * trusted proxies), applied before protocol handlers and before Remix, switchable off.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { RunningServer } from "~/http/server.server";
import { DEFAULT_LIMITS } from "~/http/rate-limit.server";
import { createTestContext, type TestContext } from "../helpers/context";
import { startProtocolServer } from "../helpers/http";

let ctx: TestContext;
let server: RunningServer;

async function start(env: Record<string, string>) {
  ctx = createTestContext(env);
  server = await startProtocolServer(ctx);
}
afterEach(async () => {
  await server.close(100);
  ctx.cleanup();
});

const register = (headers: Record<string, string> = {}, i = 0) =>
  fetch(server.url + "/register", {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify({ client_name: `App ${i}`, redirect_uris: ["https://client.example.test/cb"], token_endpoint_auth_method: "none" }),
  });
const token = (headers: Record<string, string> = {}) =>
  fetch(server.url + "/token", { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded", ...headers }, body: "grant_type=authorization_code&client_id=nope&code=x&code_verifier=y" });

describe("rate limiting at dispatch", () => {
  it("lets 50 people behind one address register", async () => {
    await start({ TOOLGATE_RATE_LIMIT: "on" });
    const statuses = [];
    for (let i = 0; i < 50; i++) statuses.push((await register({}, i)).status);
    expect(statuses).toEqual(Array(50).fill(201));
  });

  it("answers 429 with Retry-After past the burst, never 400 or 401, and refills with time", async () => {
    await start({ TOOLGATE_RATE_LIMIT: "on" });
    const burst = DEFAULT_LIMITS.token.burst;
    const statuses: number[] = [];
    for (let i = 0; i < burst; i++) statuses.push((await token()).status);
    expect(new Set(statuses)).toEqual(new Set([401])); // unknown client: the handler ran every time
    const limited = await token();
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(limited.headers.get("cache-control")).toBe("no-store");
    expect(await limited.json()).toEqual({ error: "rate_limited", error_description: "Too many requests. Try again later." });
    // Other endpoints keep their own budget.
    expect((await register()).status).toBe(201);
    ctx.advance(60_000);
    expect((await token()).status).toBe(401);
  });

  it("limits POST /sign-in and /authorize before the pages are reached", async () => {
    await start({ TOOLGATE_RATE_LIMIT: "on" });
    const signIn = () => fetch(server.url + "/sign-in", { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: "email=a&password=b" });
    for (let i = 0; i < DEFAULT_LIMITS.signIn.burst; i++) expect((await signIn()).status).not.toBe(429);
    expect((await signIn()).status).toBe(429);
    // GET /sign-in (the page) is not limited.
    expect((await fetch(server.url + "/sign-in")).status).not.toBe(429);
    for (let i = 0; i < DEFAULT_LIMITS.authorize.burst; i++) expect((await fetch(server.url + "/authorize?client_id=x")).status).not.toBe(429);
    const limited = await fetch(server.url + "/authorize?client_id=x");
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toMatch(/^\d+$/);
  });

  it("believes X-Forwarded-For only from trusted proxies", async () => {
    await start({ TOOLGATE_RATE_LIMIT: "on" });
    // Untrusted peer: forging X-Forwarded-For does not buy a fresh bucket.
    for (let i = 0; i < DEFAULT_LIMITS.signIn.burst; i++) await fetch(server.url + "/sign-in", { method: "POST", headers: { "X-Forwarded-For": `198.51.100.${i}` } });
    expect((await fetch(server.url + "/sign-in", { method: "POST", headers: { "X-Forwarded-For": "198.51.100.250" } })).status).toBe(429);
  });

  it("keys by the forwarded client address behind a trusted proxy", async () => {
    await start({ TOOLGATE_RATE_LIMIT: "on", TOOLGATE_TRUSTED_PROXIES: "loopback" });
    const post = (ip: string) => fetch(server.url + "/sign-in", { method: "POST", headers: { "X-Forwarded-For": ip } });
    for (let i = 0; i < DEFAULT_LIMITS.signIn.burst; i++) await post("198.51.100.7");
    expect((await post("198.51.100.7")).status).toBe(429);
    expect((await post("198.51.100.8")).status).not.toBe(429);
  });

  it("TOOLGATE_RATE_LIMIT=off turns it off", async () => {
    await start({ TOOLGATE_RATE_LIMIT: "off" });
    const statuses = new Set<number>();
    for (let i = 0; i < DEFAULT_LIMITS.token.burst + 20; i++) statuses.add((await token()).status);
    expect(statuses).toEqual(new Set([401]));
  });
});
