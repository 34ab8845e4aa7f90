/**
 * What the README promises a newcomer, checked against the product: the 401 of the MCP endpoint
 * without a token, what GET answers, and an install without engine warnings on the Node version
 * the README names.
 */
import fs from "node:fs";
import path from "node:path";
import semver from "semver";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "~/http/server.server";
import { createTestContext, type TestContext } from "../helpers/context";
import { startProtocolServer } from "../helpers/http";
import { grantAccess, seedServer, startToolEndpoint } from "../helpers/mcp";

const ROOT = path.resolve(import.meta.dirname, "../..");
const README = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");

describe("README: the MCP endpoint without a token", () => {
  let ctx: TestContext;
  let app: RunningServer;
  let endpoint: Awaited<ReturnType<typeof startToolEndpoint>>;
  let mcpUrl: string;
  let token: string;

  beforeAll(async () => {
    ctx = createTestContext();
    endpoint = await startToolEndpoint();
    const seeded = await seedServer(ctx, endpoint.url, [{ name: "echo", description: "Echo", path: "/echo" }]);
    token = (await grantAccess(ctx, seeded, ["echo"])).tokens.accessToken;
    app = await startProtocolServer(ctx);
    mcpUrl = `${app.url}/mcp/${seeded.serverId}`;
  });
  afterAll(async () => {
    await app.close(100);
    await endpoint.close();
    ctx.cleanup();
  });

  it("RFC 6750 §3.1: 401 without a token carries no error code, in the header or the body", async () => {
    for (const method of ["POST", "GET", "DELETE"]) {
      const res = await fetch(mcpUrl, { method, headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream" }, body: method === "POST" ? "{}" : undefined });
      expect(res.status, method).toBe(401);
      const challenge = res.headers.get("WWW-Authenticate")!;
      expect(challenge).toContain('resource_metadata="');
      expect(challenge).not.toContain("error=");
      const body = (await res.json()) as Record<string, unknown>;
      expect(body).not.toHaveProperty("error");
      expect(body.error_description).toBe("This MCP server requires an access token");
    }
  });

  it("a bad token gets error=invalid_token in both", async () => {
    const res = await fetch(mcpUrl, { method: "GET", headers: { Authorization: "Bearer tga_nope" } });
    expect(res.status).toBe(401);
    expect(res.headers.get("WWW-Authenticate")).toContain('error="invalid_token"');
    expect(((await res.json()) as { error: string }).error).toBe("invalid_token");
  });

  it("GET and DELETE with a valid token are 405 (no sessions, no stream)", async () => {
    for (const method of ["GET", "DELETE"]) {
      const res = await fetch(mcpUrl, { method, headers: { Authorization: `Bearer ${token}`, Accept: "text/event-stream" } });
      expect(res.status, method).toBe(405);
      expect(res.headers.get("Allow")).toBe("POST, OPTIONS");
      await res.body?.cancel();
    }
  });

  it("the README says so", async () => {
    expect(README).toContain("A request without a token gets `401` with no `error` in the challenge or the body");
    expect(README).toContain("`GET` and `DELETE` without a token are `401` like any request");
  });
});

describe("README: npm ci on the Node version it names", () => {
  it("no package in the lockfile asks for a newer Node than the README's (no EBADENGINE warning)", async () => {
    const named = /Node\.js (\d+\.\d+) or newer/.exec(README)?.[1];
    expect(named).toBeTruthy();
    const version = `${named}.0`;
    const engines = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).engines.node as string;
    expect(semver.satisfies(version, engines)).toBe(true);
    const lock = JSON.parse(fs.readFileSync(path.join(ROOT, "package-lock.json"), "utf8")) as {
      packages: Record<string, { engines?: { node?: string } | string[] }>;
    };
    const refusing = Object.entries(lock.packages)
      .filter(([, p]) => p.engines && !Array.isArray(p.engines) && p.engines.node && !semver.satisfies(version, p.engines.node))
      .map(([name, p]) => `${name} wants node ${(p.engines as { node: string }).node}`);
    expect(refusing).toEqual([]);
  });
});
