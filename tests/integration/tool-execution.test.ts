import http from "node:http";
import type { AddressInfo } from "node:net";
import { createHmac, timingSafeEqual } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createUser } from "~/auth/users.server";
import { addTool, createServer, readSigningSecret, rotateSigningSecret } from "~/servers/servers.server";
import { executeTool, listToolsForServer, type ToolRow } from "~/servers/tool-execution.server";
import { createTestContext, type TestContext } from "../helpers/context";

type Received = { method: string; url: string; headers: http.IncomingHttpHeaders; body: string };
type Handler = (req: Received, res: http.ServerResponse) => void;

/** A real tool endpoint on 127.0.0.1 that records every request it gets. */
async function startEndpoint(handler: Handler) {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const r = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") };
      received.push(r);
      handler(r, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** What a tool endpoint does to check a call: recompute the HMAC and compare in constant time. */
function verifySignature(secret: string, req: Received): boolean {
  const timestamp = req.headers["x-toolgate-timestamp"] as string;
  const signature = req.headers["x-toolgate-signature"] as string;
  const expected = "sha256=" + createHmac("sha256", secret).update(`${timestamp}.${req.body}`).digest("hex");
  return signature.length === expected.length && timingSafeEqual(Buffer.from(signature), Buffer.from(expected));
}

const weatherSchema = {
  type: "object",
  properties: { city: { type: "string", minLength: 1 }, days: { type: "integer", minimum: 1, maximum: 7 } },
  required: ["city"],
  additionalProperties: false,
};

describe("tool execution against a real HTTP endpoint", () => {
  let ctx: TestContext;
  let endpoint: Awaited<ReturnType<typeof startEndpoint>>;
  let handler: Handler;
  let ownerId: string;

  async function toolAt(path: string, options: { headers?: Record<string, string>; method?: string } = {}) {
    const { server } = await createServer(ctx, {
      ownerId,
      name: "Weather",
      tools: [
        {
          name: "get_forecast",
          description: "Forecast for a city",
          inputSchema: weatherSchema,
          endpoint: { url: `${endpoint.url}${path}`, method: options.method, headers: options.headers },
        },
      ],
    });
    return { serverId: server.id, tool: (await listToolsForServer(ctx, server.id))[0]! };
  }

  beforeEach(async () => {
    ctx = createTestContext({ TOOLGATE_TOOL_TIMEOUT_MS: "300", TOOLGATE_TOOL_MAX_RESPONSE_BYTES: "2048" });
    ownerId = (await createUser(ctx, { email: `owner-${Math.random()}@example.test` })).id;
    handler = (_req, res) => {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ forecast: "sunny" }));
    };
    endpoint = await startEndpoint((req, res) => handler(req, res));
  });
  afterEach(async () => {
    await endpoint.close();
    ctx.cleanup();
  });

  it("POSTs the arguments as JSON, signed so the receiver can verify it, and returns the answer as text", async () => {
    const { serverId, tool } = await toolAt("/forecast", { headers: { Authorization: "Bearer upstream-key" } });
    const result = await executeTool(ctx, tool, { city: "Lisbon", days: 2 });
    expect(result).toEqual({ content: [{ type: "text", text: '{"forecast":"sunny"}' }] });

    expect(endpoint.received).toHaveLength(1);
    const req = endpoint.received[0]!;
    expect(req.method).toBe("POST");
    expect(req.url).toBe("/forecast");
    expect(req.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(req.body)).toEqual({ city: "Lisbon", days: 2 });
    expect(req.headers.authorization).toBe("Bearer upstream-key");
    expect(req.headers["x-toolgate-timestamp"]).toBe(String(Math.floor(ctx.now() / 1000)));
    expect(req.headers["x-toolgate-signature"]).toMatch(/^sha256=[0-9a-f]{64}$/);
    const secret = (await readSigningSecret(ctx, serverId))!;
    expect(verifySignature(secret, req)).toBe(true);
    expect(verifySignature("tgs_some-other-secret", req)).toBe(false);
    expect(verifySignature(secret, { ...req, body: req.body.replace("Lisbon", "Paris") })).toBe(false);
  });

  it("uses the tool's method", async () => {
    const { tool } = await toolAt("/x", { method: "put" });
    await executeTool(ctx, tool, { city: "Oslo" });
    expect(endpoint.received[0]!.method).toBe("PUT");
  });

  it("passes a JSON body that already is MCP tool content through unchanged", async () => {
    const mcp = { content: [{ type: "text", text: "Sunny, 21°C" }], structuredContent: { t: 21 }, isError: false };
    handler = (_req, res) => {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify(mcp));
    };
    const { tool } = await toolAt("/");
    expect(await executeTool(ctx, tool, { city: "Rome" })).toEqual(mcp);
  });

  it("reports MCP-looking content that is not valid as a tool error", async () => {
    handler = (_req, res) => {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ content: [{ type: "nonsense" }] }));
    };
    const { tool } = await toolAt("/");
    const result = await executeTool(ctx, tool, { city: "Rome" });
    expect(result.isError).toBe(true);
  });

  it("returns a non-JSON answer as text", async () => {
    handler = (_req, res) => {
      res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8" });
      res.end("plain words, not JSON");
    };
    const { tool } = await toolAt("/");
    expect(await executeTool(ctx, tool, { city: "Rome" })).toEqual({ content: [{ type: "text", text: "plain words, not JSON" }] });
  });

  it("turns HTTP 500 into a tool error naming the status", async () => {
    handler = (_req, res) => {
      res.writeHead(500, { "Content-Type": "text/plain" });
      res.end("database is down");
    };
    const { tool } = await toolAt("/");
    const result = await executeTool(ctx, tool, { city: "Rome" });
    expect(result.isError).toBe(true);
    expect(result.content).toEqual([{ type: "text", text: "The tool endpoint answered HTTP 500 Internal Server Error.\n\ndatabase is down" }]);
  });

  it("turns a redirect into a tool error instead of following it", async () => {
    handler = (_req, res) => {
      res.writeHead(307, { Location: "http://127.0.0.1:1/elsewhere" });
      res.end();
    };
    const { tool } = await toolAt("/");
    const result = await executeTool(ctx, tool, { city: "Rome" });
    expect(result.isError).toBe(true);
    expect(result.content[0]).toMatchObject({ text: expect.stringContaining("HTTP 307") });
  });

  it("gives up after the configured timeout", async () => {
    handler = () => {
      // never answers
    };
    const { tool } = await toolAt("/");
    const started = Date.now();
    const result = await executeTool(ctx, tool, { city: "Rome" });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(result).toEqual({ isError: true, content: [{ type: "text", text: "The tool endpoint did not answer within 0.3 s." }] });
  });

  it("times out a body that trickles in too slowly", async () => {
    handler = (_req, res) => {
      res.writeHead(200, { "Content-Type": "text/plain" });
      res.write("partial");
    };
    const { tool } = await toolAt("/");
    const result = await executeTool(ctx, tool, { city: "Rome" });
    expect(result.content).toEqual([{ type: "text", text: "The tool endpoint did not answer within 0.3 s." }]);
  });

  it("stops reading an oversized answer (streamed, no Content-Length)", async () => {
    let closed = false;
    handler = (_req, res) => {
      res.writeHead(200, { "Content-Type": "text/plain" });
      res.on("close", () => (closed = true));
      const chunk = "x".repeat(1024);
      let sent = 0;
      const pump = () => {
        while (sent < 1000 && !res.destroyed && res.write(chunk)) sent++;
        if (sent < 1000 && !res.destroyed) res.once("drain", pump);
        else res.end();
      };
      pump();
    };
    const { tool } = await toolAt("/");
    const result = await executeTool(ctx, tool, { city: "Rome" });
    expect(result).toEqual({ isError: true, content: [{ type: "text", text: "The tool endpoint's answer is larger than the 2048-byte limit." }] });
    await new Promise((r) => setTimeout(r, 50));
    expect(closed).toBe(true);
  });

  it("refuses an answer whose Content-Length is over the limit", async () => {
    handler = (_req, res) => {
      res.writeHead(200, { "Content-Type": "application/json", "Content-Length": 5000 });
      res.end("y".repeat(5000));
    };
    const { tool } = await toolAt("/");
    const result = await executeTool(ctx, tool, { city: "Rome" });
    expect(result.isError).toBe(true);
    expect(result.content[0]).toMatchObject({ text: expect.stringContaining("larger than the 2048-byte limit") });
  });

  it("reports a refused connection as a tool error", async () => {
    const { tool } = await toolAt("/");
    await endpoint.close();
    const result = await executeTool(ctx, tool, { city: "Rome" });
    expect(result).toEqual({ isError: true, content: [{ type: "text", text: "Could not reach the tool endpoint (connection refused)." }] });
  });

  it("never calls the endpoint with arguments that do not match the input schema", async () => {
    const { tool } = await toolAt("/");
    for (const bad of [{}, { city: 5 }, { city: "Rome", days: 30 }, { city: "Rome", extra: true }, "Rome", [1], null]) {
      const result = await executeTool(ctx, tool, bad);
      expect(result.isError, JSON.stringify(bad)).toBe(true);
      expect((result.content[0] as { text: string }).text).toMatch(/^Invalid arguments for tool get_forecast: /);
    }
    expect(endpoint.received).toHaveLength(0);
  });

  it("treats missing arguments as an empty object", async () => {
    const { serverId } = await toolAt("/");
    const noArgs = await addTool(ctx, null, serverId, {
      name: "ping",
      inputSchema: { type: "object" },
      endpoint: { url: `${endpoint.url}/ping` },
    }) as ToolRow;
    const result = await executeTool(ctx, noArgs, undefined);
    expect(result.isError).toBeUndefined();
    expect(endpoint.received[0]!.body).toBe("{}");
  });

  it("is cancelled by the caller's signal", async () => {
    handler = () => {};
    const { tool } = await toolAt("/");
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    const result = await executeTool(ctx, tool, { city: "Rome" }, { signal: controller.signal });
    expect(result).toEqual({ isError: true, content: [{ type: "text", text: "The tool call was cancelled." }] });
  });

  it("validates against the edited schema after a tool changes", async () => {
    const { tool } = await toolAt("/");
    expect((await executeTool(ctx, tool, { city: "Rome" })).isError).toBeUndefined();
    const edited: ToolRow = { ...tool, inputSchema: JSON.stringify({ type: "object", required: ["zip"] }), updatedAt: tool.updatedAt + 1 };
    expect((await executeTool(ctx, edited, { city: "Rome" })).isError).toBe(true);
  });

  it("signs with a rotated secret from the very next call (the decrypted secret is cached by its sealed value)", async () => {
    const { serverId, tool } = await toolAt("/");
    const before = (await readSigningSecret(ctx, serverId))!;
    await executeTool(ctx, tool, { city: "Oslo" });
    await executeTool(ctx, tool, { city: "Oslo" });
    const rotated = (await rotateSigningSecret(ctx, ownerId, serverId))!;
    expect(rotated).not.toBe(before);
    await executeTool(ctx, tool, { city: "Oslo" });
    expect(endpoint.received).toHaveLength(3);
    expect(endpoint.received.slice(0, 2).map((r) => verifySignature(before, r))).toEqual([true, true]);
    expect(verifySignature(rotated, endpoint.received[2]!)).toBe(true);
    expect(verifySignature(before, endpoint.received[2]!)).toBe(false);
  });

  it("sends a tool's edited endpoint headers from the next call", async () => {
    const { tool } = await toolAt("/", { headers: { Authorization: "Bearer old-key" } });
    await executeTool(ctx, tool, { city: "Oslo" });
    const { tool: other } = await toolAt("/", { headers: { Authorization: "Bearer new-key" } });
    // Same tool id, the other tool's sealed headers: what an edit of the headers stores.
    await executeTool(ctx, { ...tool, endpointHeadersEnc: other.endpointHeadersEnc }, { city: "Oslo" });
    expect(endpoint.received.map((r) => r.headers.authorization)).toEqual(["Bearer old-key", "Bearer new-key"]);
  });

  it("never writes the arguments or the signing secret to the log", async () => {
    const { serverId, tool } = await toolAt("/");
    await executeTool(ctx, tool, { city: "Secret-City-Name" });
    const secret = (await readSigningSecret(ctx, serverId))!;
    const logs = ctx.logs.join("\n");
    expect(logs).toContain('"outcome":"ok"');
    expect(logs).not.toContain("Secret-City-Name");
    expect(logs).not.toContain(secret);
  });
});
