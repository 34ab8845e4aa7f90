/**
 * MCP security best practices, "Token Passthrough" and "Confused Deputy": a tool endpoint never
 * receives the client's access token, a cookie or anything else the client sent as credentials;
 * it gets the arguments, signed with the server's own secret. A token only reaches the tools its
 * grant names.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { RunningServer } from "~/http/server.server";
import { createTestContext, type TestContext } from "../helpers/context";
import { startProtocolServer } from "../helpers/http";
import { echoSchema, grantAccess, seedServer } from "../helpers/mcp";

let ctx: TestContext;
let app: RunningServer;
let tool: http.Server;
const seen: { headers: http.IncomingHttpHeaders; body: string }[] = [];

beforeAll(async () => {
  ctx = createTestContext();
  tool = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c));
    req.on("end", () => {
      seen.push({ headers: req.headers, body });
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ ok: true }));
    });
  });
  await new Promise<void>((r) => tool.listen(0, "127.0.0.1", () => r()));
  app = await startProtocolServer(ctx);
});
afterAll(async () => {
  await app.close(100);
  await new Promise<void>((r) => tool.close(() => r()));
  ctx.cleanup();
});

it("forwards neither the client's token nor its cookies to the tool endpoint, and calls only granted tools", async () => {
  const url = `http://127.0.0.1:${(tool.address() as AddressInfo).port}`;
  const seeded = await seedServer(ctx, url, [
    { name: "echo", description: "Echoes", inputSchema: echoSchema, path: "/echo" },
    { name: "other", description: "Not granted", path: "/other" },
  ]);
  const access = await grantAccess(ctx, seeded, ["echo"]);
  const token = access.tokens.accessToken;
  const call = (name: string) =>
    fetch(`${app.url}/mcp/${seeded.serverId}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream", Authorization: `Bearer ${token}`, Cookie: "toolgate=session-cookie-value", "X-Api-Key": "client-key" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name, arguments: { text: "hi" } } }),
    });
  const ok = await call("echo");
  expect(ok.status).toBe(200);
  expect(seen).toHaveLength(1);
  const sent = JSON.stringify(seen[0]);
  expect(sent).not.toContain(token);
  expect(sent).not.toContain("session-cookie-value");
  expect(sent).not.toContain("client-key");
  expect(seen[0]!.headers.authorization).toBeUndefined();
  expect(seen[0]!.headers.cookie).toBeUndefined();
  // The ungranted tool is refused without reaching its endpoint.
  const refused = await call("other");
  const answer = (await refused.json()) as { error?: unknown; result?: { isError?: boolean } };
  expect(answer.error ?? answer.result?.isError).toBeTruthy();
  expect(seen).toHaveLength(1);
});
