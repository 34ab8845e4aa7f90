// The floor the MCP SDK sets for a `tools/list` over HTTP (bench/micro/sdk-floor.mjs): node:http,
// the body read and parsed, the SDK's classifyInboundRequest, one long-lived SDK Server per era
// reached through the app's DispatchTransport (as app/mcp/endpoint.server.ts does), a handler that
// returns a constant list of 10 tools, JSON.stringify of the answer, one res.end. No bearer check,
// no database, no logging, no header checks: only what the SDK itself does per request.
// `call` is the same for a 2025-era `tools/call` whose handler POSTs the arguments to a no-op tool
// endpoint (UPSTREAM_PORT) over a keep-alive node:http agent and returns its answer as text: the
// floor of issue 16's call path, before validation, signing, auditing and logging.
// Usage: node sdk-floor-server.mjs <bare|legacy|modern|call>
import http from "node:http";
import { classifyInboundRequest, Server } from "@modelcontextprotocol/server";
import { importAppModules } from "../lib/app-modules.mjs";

const mode = process.argv[2];
const { DispatchTransport, sdkRequestEntry, MODERN_REVISION, LEGACY_REVISIONS } = await importAppModules(
  `export { DispatchTransport, sdkRequestEntry } from "~/mcp/dispatch-transport.server";
   export { MODERN_REVISION, LEGACY_REVISIONS } from "~/mcp/revisions.server";`,
  { name: "sdk-floor" },
);

const TOOLS = Object.freeze(
  Array.from({ length: 10 }, (_, i) => ({
    name: `tool_${i}`,
    description: `Seeded tool ${i}`,
    inputSchema: { type: "object", properties: { query: { type: "string" } }, required: ["query"] },
  })),
);

async function connected(era) {
  const server = new Server(
    { name: "floor", version: "1" },
    {
      capabilities: { tools: {} },
      supportedProtocolVersions: [MODERN_REVISION, ...LEGACY_REVISIONS],
      cacheHints: { "tools/list": { ttlMs: 0, cacheScope: "private" } },
    },
  );
  if (era === "legacy") server._negotiatedProtocolVersion = LEGACY_REVISIONS[0];
  else server._negotiatedProtocolVersion = MODERN_REVISION;
  server.setRequestHandler("tools/list", async () => ({ tools: TOOLS }));
  server.setRequestHandler("tools/call", async (request) => ({ content: [{ type: "text", text: await forward(JSON.stringify(request.params.arguments ?? {})) }] }));
  const transport = new DispatchTransport(era === "modern" ? { era: "modern", revision: MODERN_REVISION } : undefined);
  void server.connect(transport);
  transport.useRequestEntry(sdkRequestEntry(server));
  return transport;
}
const agent = new http.Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 64 });
function forward(body) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { agent, hostname: "127.0.0.1", port: Number(process.env.UPSTREAM_PORT), path: "/", method: "POST", headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) } },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const transports = { legacy: await connected("legacy"), modern: await connected("modern") };
const authInfo = { token: "", clientId: "c", scopes: ["mcp:tools"], expiresAt: 4102444800, extra: {} };

function answer(res, status, text) {
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

const server = http.createServer((req, res) => {
  if (mode === "bare") return answer(res, 200, '{"status":"ok","id":1}');
  let body = "";
  req.setEncoding("utf8");
  req.on("data", (chunk) => (body += chunk));
  req.on("end", async () => {
    const message = JSON.parse(body);
    const route = classifyInboundRequest({
      httpMethod: "POST",
      protocolVersionHeader: req.headers["mcp-protocol-version"],
      mcpMethodHeader: req.headers["mcp-method"],
      mcpNameHeader: req.headers["mcp-name"],
      body: message,
    });
    if (route.kind === "reject") return answer(res, route.httpStatus, JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: route.code, message: route.message } }));
    const request = route.kind === "modern" ? route.message : message;
    const { answer: answered } = transports[route.kind === "modern" ? "modern" : "legacy"].dispatch(request, authInfo);
    answer(res, 200, JSON.stringify((await answered).answer));
  });
});
server.listen(0, "127.0.0.1", () => process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n"));
