/**
 * The Node fast paths of the hot protocol endpoints (nodeProtocolRoute) answer exactly what the
 * fetch-style handlers answer, and keep their edge cases: repeated Authorization headers, bodies
 * over the limit, discovery documents byte for byte.
 */
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "~/http/server.server";
import { callProtocol } from "../helpers/protocol";
import { deleteServer, updateServer } from "~/servers/servers.server";
import { createTestContext, type TestContext } from "../helpers/context";
import { startProtocolServer } from "../helpers/http";
import { echoSchema, grantAccess, seedServer, startToolEndpoint } from "../helpers/mcp";

/** Sends raw bytes on one connection; resolves with what came back and whether the server closed it. */
function raw(url: string, request: string, waitMs = 1500): Promise<{ text: string; closed: boolean }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname);
    let text = "";
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, closed: false });
    }, waitMs);
    socket.on("data", (d) => (text += d.toString("utf8")));
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ text, closed: true });
    });
    socket.on("error", () => undefined);
    socket.write(request);
  });
}

describe("Node fast paths", () => {
  let ctx: TestContext;
  let app: RunningServer;
  let endpoint: Awaited<ReturnType<typeof startToolEndpoint>>;
  let seeded: { userId: string; serverId: string };
  let access: Awaited<ReturnType<typeof grantAccess>>;

  beforeAll(async () => {
    ctx = createTestContext();
    endpoint = await startToolEndpoint();
    seeded = await seedServer(ctx, endpoint.url, [{ name: "echo", description: "Echoes its text", inputSchema: echoSchema, path: "/echo" }]);
    access = await grantAccess(ctx, seeded, ["echo"]);
    app = await startProtocolServer(ctx);
  });

  afterAll(async () => {
    await app.close(100);
    await endpoint.close();
    ctx.cleanup();
  });

  const rpc = JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/list" });

  it("MCP: a valid token answers; the same token twice in two Authorization headers is an invalid token", async () => {
    const path = `/mcp/${seeded.serverId}`;
    const head = (auth: string) =>
      `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n${auth}Content-Length: ${rpc.length}\r\nConnection: close\r\n\r\n${rpc}`;
    const bearer = `Authorization: Bearer ${access.tokens.accessToken}\r\n`;
    const one = await raw(app.url, head(bearer));
    expect(one.text).toMatch(/^HTTP\/1\.1 200 /);
    expect(one.text).toContain('"name":"echo"');
    expect(one.text).toMatch(/cache-control: no-store/i);
    const two = await raw(app.url, head(bearer + bearer));
    expect(two.text).toMatch(/^HTTP\/1\.1 401 /);
    expect(two.text).toContain("invalid_token");
  });

  it("MCP and /token: a body over the limit gets 413 and the connection is closed", async () => {
    const big = "x".repeat(2 * 1024 * 1024);
    const mcp = await raw(
      app.url,
      `POST /mcp/${seeded.serverId} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${access.tokens.accessToken}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n${big.length.toString(16)}\r\n${big}\r\n`,
    );
    expect(mcp.text).toMatch(/^HTTP\/1\.1 413 /);
    expect(mcp.closed).toBe(true);
    const form = `grant_type=refresh_token&refresh_token=${"a".repeat(40_000)}`;
    const token = await raw(
      app.url,
      `POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${form.length + 10}\r\n\r\n${form}`,
    );
    expect(token.text).toMatch(/^HTTP\/1\.1 413 /);
    expect(token.text).toContain("invalid_request");
    expect(token.closed).toBe(true);
  });

  it("discovery: over HTTP, the documents and headers of the handler called in-process", async () => {
    for (const path of [
      "/.well-known/oauth-authorization-server",
      "/.well-known/oauth-protected-resource",
      `/.well-known/oauth-protected-resource/mcp/${seeded.serverId}`,
    ]) {
      const fast = await fetch(`${app.url}${path}`);
      const slow = await callProtocol(ctx, new Request(`${ctx.config.publicUrl}${path}`));
      expect(fast.status).toBe(200);
      expect(await fast.text()).toBe(await slow.text());
      for (const name of ["content-type", "cache-control", "access-control-allow-origin", "access-control-allow-headers", "access-control-expose-headers"]) {
        expect(fast.headers.get(name), `${path} ${name}`).toBe(slow.headers.get(name));
      }
      expect(fast.headers.get("x-content-type-options")).toBe("nosniff");
    }
    const unknown = await fetch(`${app.url}/.well-known/oauth-protected-resource/mcp/no-such-server`);
    expect(unknown.status).toBe(404);
  });

  it("fast-path answers state their length and leave in one piece (no chunked encoding)", async () => {
    const mcp = (auth: string) =>
      `POST /mcp/${seeded.serverId} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n${auth}Content-Length: ${rpc.length}\r\nConnection: close\r\n\r\n${rpc}`;
    const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;
    for (const [label, request, status] of [
      ["tools/list", mcp(`Authorization: Bearer ${access.tokens.accessToken}\r\n`), 200],
      ["MCP without a token", mcp(""), 401],
      ["healthz", get("/healthz"), 200],
      ["AS metadata", get("/.well-known/oauth-authorization-server"), 200],
      ["PR metadata", get(`/.well-known/oauth-protected-resource/mcp/${seeded.serverId}`), 200],
    ] as const) {
      const { text } = await raw(app.url, request);
      const [head, body] = text.split("\r\n\r\n", 2) as [string, string];
      expect(head, label).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
      expect(head, label).not.toMatch(/transfer-encoding/i);
      const length = /\r\ncontent-length: (\d+)/i.exec(head);
      expect(length, label).not.toBeNull();
      expect(Buffer.byteLength(body), label).toBe(Number(length![1]));
    }
  });

  it("discovery: a per-server document follows a rename or a deletion within a second", async () => {
    const other = await seedServer(ctx, endpoint.url, [{ name: "echo", path: "/echo" }], "Before");
    const url = `${app.url}/.well-known/oauth-protected-resource/mcp/${other.serverId}`;
    const name = async () => {
      const res = await fetch(url);
      return res.status === 200 ? ((await res.json()) as { resource_name: string }).resource_name : res.status;
    };
    expect(await name()).toBe("Before");
    await updateServer(ctx, other.userId, other.serverId, { name: "After", description: "" });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await name()).toBe("After");
    await deleteServer(ctx, other.userId, other.serverId);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await name()).toBe(404);
  });
});
