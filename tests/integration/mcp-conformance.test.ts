/**
 * The official MCP conformance suite (@modelcontextprotocol/conformance, server scenarios) against a
 * real Toolgate protocol server holding a real token.
 *
 * The suite's client is built without headers or an OAuth provider (0.1.x tests servers, not
 * authorization), so it cannot present a bearer token. It talks to Toolgate through a forward proxy
 * on 127.0.0.1 that adds `Authorization: Bearer <token>` to each request and changes nothing else:
 * method, path, every other header (Origin, Host, Accept, MCP-Protocol-Version) and the body go
 * through as sent, and Toolgate's answers come back byte for byte. A control run without the proxy
 * shows the suite is refused (401), so the proxy is the token and only the token.
 *
 * The suite needs Node 22 (scripts/ensure-node22.mjs provides it).
 */
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "~/http/server.server";
import { createTestContext, type TestContext } from "../helpers/context";
import { startProtocolServer } from "../helpers/http";
import { grantAccess, seedServer, startToolEndpoint } from "../helpers/mcp";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CONFORMANCE = path.join(ROOT, "node_modules/@modelcontextprotocol/conformance/dist/index.js");

/** A forward proxy that adds the bearer token and passes everything else through unchanged. */
async function startAuthProxy(target: string, accessToken: string) {
  const upstream = new URL(target);
  const server = http.createServer((req, res) => {
    const forward = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, authorization: `Bearer ${accessToken}` },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on("error", () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://localhost:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

type Check = { id: string; status: string; errorMessage?: string };

/** Runs one server scenario with Node 22 and returns the checks it wrote. */
async function runScenario(node22: string, url: string, scenario: string): Promise<{ code: number; checks: Check[]; output: string }> {
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-conformance-"));
  try {
    const { code, output } = await new Promise<{ code: number; output: string }>((resolve) => {
      const child = spawn(node22, [CONFORMANCE, "server", "--url", url, "--scenario", scenario, "-o", outDir], {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, NO_COLOR: "1" },
      });
      let output = "";
      child.stdout.on("data", (d: Buffer) => (output += d));
      child.stderr.on("data", (d: Buffer) => (output += d));
      child.on("exit", (c) => resolve({ code: c ?? 1, output }));
      child.on("error", (error) => resolve({ code: 1, output: `${output}\n${error.message}` }));
    });
    const files = fs.readdirSync(outDir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith("checks.json"));
    const checks = files.flatMap((f) => JSON.parse(fs.readFileSync(path.join(outDir, f), "utf8")) as Check[]);
    return { code, checks, output };
  } finally {
    fs.rmSync(outDir, { recursive: true, force: true });
  }
}

describe("MCP conformance suite (server scenarios) against Toolgate", () => {
  let ctx: TestContext;
  let app: RunningServer;
  let endpoint: Awaited<ReturnType<typeof startToolEndpoint>>;
  let proxy: Awaited<ReturnType<typeof startAuthProxy>>;
  let serverId: string;
  let node22: string;

  beforeAll(async () => {
    node22 = execFileSync(process.execPath, [path.join(ROOT, "scripts/ensure-node22.mjs")], { encoding: "utf8" }).trim();
    ctx = createTestContext();
    endpoint = await startToolEndpoint();
    // Tools named as the scenarios expect, each backed by a real endpoint answering as they require.
    const seeded = await seedServer(
      ctx,
      endpoint.url,
      [
        { name: "test_simple_text", description: "Returns a simple text response", path: "/mcp-text" },
        { name: "test_error_handling", description: "Always returns an error result", path: "/mcp-error" },
      ],
      "Conformance",
    );
    serverId = seeded.serverId;
    const access = grantAccess(ctx, seeded, ["test_simple_text", "test_error_handling"]);
    app = await startProtocolServer(ctx);
    proxy = await startAuthProxy(app.url, access.tokens.accessToken);
  }, 120_000);

  afterAll(async () => {
    await proxy?.close();
    await app?.close(100);
    await endpoint?.close();
    ctx?.cleanup();
  });

  it.each(["server-initialize", "ping", "tools-list", "tools-call-simple-text", "tools-call-error", "dns-rebinding-protection"])(
    "passes %s",
    async (scenario) => {
      const result = await runScenario(node22, `${proxy.url}/mcp/${serverId}`, scenario);
      expect(result.checks.length, result.output).toBeGreaterThan(0);
      const failed = result.checks.filter((c) => c.status === "FAILURE");
      expect(failed, result.output).toEqual([]);
      expect(result.code, result.output).toBe(0);
    },
    60_000,
  );

  it("control: without the token the suite is refused (the endpoint demands a bearer token)", async () => {
    const result = await runScenario(node22, `${app.url.replace("127.0.0.1", "localhost")}/mcp/${serverId}`, "server-initialize");
    expect(result.checks.map((c) => c.status)).toContain("FAILURE");
    expect(result.output).toMatch(/401|Unauthorized|invalid_token|requires an access token/i);
    expect(result.code).not.toBe(0);
  }, 60_000);
});
