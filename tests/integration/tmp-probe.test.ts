import { it } from "vitest";
import { createTestContext } from "../helpers/context";
import { startProtocolServer } from "../helpers/http";
import { echoSchema, grantAccess, seedServer, startToolEndpoint } from "../helpers/mcp";
it("probe", async () => {
  const ctx = createTestContext();
  const endpoint = await startToolEndpoint();
  const seeded = await seedServer(ctx, endpoint.url, [{ name: "echo", inputSchema: echoSchema, path: "/echo" }]);
  const token = grantAccess(ctx, seeded, ["echo"]).tokens.accessToken;
  const app = await startProtocolServer(ctx);
  let deep = "1"; for (let i = 0; i < 100_000; i++) deep = `[${deep}]`;
  let deepObj = "1"; for (let i = 0; i < 50_000; i++) deepObj = `{"a":${deepObj}}`;
  const h = { "Content-Type": "application/json", Accept: "application/json, text/event-stream", Authorization: `Bearer ${token}`, "MCP-Protocol-Version": "2025-06-18" };
  const cases: [string, string, Record<string, string>][] = [
    ["/register deep array field", JSON.stringify({ redirect_uris: ["http://127.0.0.1/cb"], client_name: "x" }).slice(0, -1) + `,"extra":${deep}}`, { "Content-Type": "application/json" }],
    ["/register deep obj field", JSON.stringify({ redirect_uris: ["http://127.0.0.1/cb"], client_name: "x" }).slice(0, -1) + `,"extra":${deepObj}}`, { "Content-Type": "application/json" }],
    ["/register deep redirect", `{"redirect_uris":${deep},"client_name":"x"}`, { "Content-Type": "application/json" }],
    ["/register deep body", deep, { "Content-Type": "application/json" }],
    [`/mcp/${seeded.serverId} tools/list deep params`, `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":${deep}}}`, h],
    [`/mcp/${seeded.serverId} deep _meta`, `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"x":${deepObj}}}}`, h],
    [`/mcp/${seeded.serverId} deep id`, `{"jsonrpc":"2.0","id":${deep},"method":"tools/list"}`, h],
    [`/mcp/${seeded.serverId} deep method`, `{"jsonrpc":"2.0","id":1,"method":${deep}}`, h],
    [`/mcp/${seeded.serverId} deep body`, deep, h],
    [`/mcp/${seeded.serverId} call deep args obj`, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":${deepObj}}}}`, h],
    [`/mcp/${seeded.serverId} call deep name`, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":${deep}}}`, h],
    [`/mcp/${seeded.serverId} notification deep`, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":${deep}}}`, h],
    [`/mcp/${seeded.serverId} batch deep`, `[{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":${deep}}}]`, h],
  ];
  for (const [name, body, headers] of cases) {
    const path = name.split(" ")[0]!;
    const t0 = performance.now();
    const res = await fetch(app.url + path, { method: "POST", headers, body });
    const text = await res.text();
    console.info(name, res.status, Math.round(performance.now() - t0), "ms", text.slice(0, 150));
  }
  console.info(ctx.logs.filter((l) => /error|warn/i.test(l)).map((l) => l.slice(0, 300)).join("\n"));
  await app.close(100); await endpoint.close(); ctx.cleanup();
});
