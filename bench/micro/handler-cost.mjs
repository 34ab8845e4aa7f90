// Micro-benchmark: CPU time per request of the app's protocol handlers called in-process, one at a
// time, with no HTTP in between (the handlers of the route table the Node server calls, given a
// request read from a fetch Request as tests/helpers/protocol.ts does; a --src tree from before the
// route table is called through its fetch-style handlers). This splits
// a scenario's cost into "handler" and "HTTP + Request/Response plumbing" (compare with the bench's
// CPU µs/req column) and is much less sensitive to other load than req/s.
// Usage: node bench/micro/handler-cost.mjs [--scale N] [--n N] [--only SUBSTRING] [--src DIR]
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { ROOT } from "../lib/app.mjs";
import { importAppModules } from "../lib/app-modules.mjs";
import { startChildServer } from "../lib/proc.mjs";
import { MCP_MODERN_VERSION, MCP_PROTOCOL_VERSION } from "../lib/scenarios.mjs";
import { seed } from "../lib/seed.mjs";

const { values } = parseArgs({
  options: {
    scale: { type: "string", default: "1000" },
    n: { type: "string", default: "3000" },
    only: { type: "string" },
    // Bundle app/ from another tree, e.g. `git archive <commit> app | tar -x -C DIR` (before/after).
    src: { type: "string" },
  },
});
const N = Number(values.n);

// Bundle the protocol routes from source (app/), leaving packages external.
const SRC = path.resolve(values.src ?? ROOT);
const common = `export { parseConfig } from "~/config.server";
   export * as dbClient from "~/db/client.server";
   export { createLogger } from "~/utils/log.server";`;
const routeTable = fs.existsSync(path.join(SRC, "app/http/body.server.ts"));
const app = await importAppModules(
  routeTable
    ? `export { matchProtocolRoute } from "~/http/routes.server"; ${common}`
    : `import "~/http/routes.server"; export { matchProtocolRoute } from "~/http/protocol.server"; ${common}`,
  { src: SRC, name: "protocol-handlers" },
);

function openData(file) {
  const store = app.dbClient.openStore?.(file);
  return store ? { store, db: store.db } : { db: app.dbClient.openDatabase(file) };
}
async function closeData(c) {
  if (c.store) await c.store.close();
  else c.db.$client.close();
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-micro-handlers-"));
const noop = await startChildServer("noop-tool", dir);
const publicUrl = "http://127.0.0.1:3999";
const fixture = await seed(dir, {
  scale: Number(values.scale),
  refreshPool: N * 3 + 100,
  publicUrl,
  toolEndpointUrl: `${noop.url}/tool`,
});
const ctx = {
  config: app.parseConfig({ PUBLIC_URL: publicUrl, TOOLGATE_DATA_DIR: dir, TOOLGATE_LOG_LEVEL: "silent" }),
  secrets: fixture.secrets,
  // The store where the tree has one (docs/decisions/051-async-store.md), else the synchronous handle.
  ...openData(path.join(dir, "toolgate.db")),
  logger: app.createLogger("silent"),
  now: Date.now,
};
const info = { clientAddress: "127.0.0.1", requestId: "bench" };

async function call(url, init) {
  const u = new URL(url, publicUrl);
  const found = app.matchProtocolRoute(u.pathname);
  if (!found) throw new Error(`no protocol route for ${u.pathname}`);
  const request = new Request(u, init);
  if (!routeTable) {
    const response = await found(request, ctx, info);
    await response.text();
    return response.status;
  }
  const protocolRequest = {
    method: request.method,
    pathname: u.pathname,
    ...info,
    header: (name) => request.headers.get(name),
    readBody: async () => ({ kind: "ok", text: await request.text() }),
    onAbort() {},
  };
  const answer = await found.route.handler(protocolRequest, ctx, found.match);
  return answer.status;
}

async function time(label, makeRequest, expected) {
  if (values.only && !label.includes(values.only)) return;
  for (let i = 0; i < 200; i++) await makeRequest(); // warm-up
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const status = await makeRequest();
    if (status !== expected) throw new Error(`${label}: status ${status}`);
  }
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / N;
  const wall = ((performance.now() - t0) * 1000) / N;
  console.log(`${label.padEnd(52)} ${cpu.toFixed(0).padStart(6)} µs CPU  ${wall.toFixed(0).padStart(6)} µs wall`);
}

const envelope = {
  "io.modelcontextprotocol/protocolVersion": MCP_MODERN_VERSION,
  "io.modelcontextprotocol/clientInfo": { name: "toolgate-bench", version: "1" },
  "io.modelcontextprotocol/clientCapabilities": {},
};
/** `modern` ({ method, name? }): a 2026-07-28 request (envelope in the body, standard headers). */
const mcp = (message, modern) => {
  let i = 0;
  const body = JSON.stringify(modern ? { ...message, params: { ...message.params, _meta: envelope } } : message);
  return () => {
    const t = fixture.accessTokens[i++ % fixture.accessTokens.length];
    return call(`/mcp/${t.serverId}`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${t.token}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-protocol-version": modern ? MCP_MODERN_VERSION : MCP_PROTOCOL_VERSION,
        ...(modern ? { "mcp-method": modern.method, ...(modern.name ? { "mcp-name": modern.name } : {}) } : {}),
      },
      body,
    });
  };
};
let r = 0;
const refresh = () => {
  const t = fixture.refreshTokens[r++];
  return call("/token", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: t.token, client_id: t.clientId, resource: `${publicUrl}/mcp/${t.serverId}` }).toString(),
  });
};
let c = 0;
const register = () =>
  call("/register", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ client_name: `c${c++}`, redirect_uris: ["http://127.0.0.1:45678/callback"], token_endpoint_auth_method: "none" }),
  });

console.log(`in-process protocol handlers from ${SRC}, ${N} sequential requests each, --scale ${values.scale}, node ${process.version}`);
await time("GET /healthz", () => call("/healthz"), 200);
await time("GET /.well-known/oauth-authorization-server", () => call("/.well-known/oauth-authorization-server"), 200);
await time("GET /.well-known/oauth-protected-resource/mcp/<id>", () => call(`/.well-known/oauth-protected-resource/mcp/${fixture.servers[0].id}`), 200);
const list = { jsonrpc: "2.0", id: 1, method: "tools/list", params: {} };
const callTool = { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "tool_3", arguments: { query: "bench" } } };
await time("POST /mcp/<id> tools/list, 2025-11-25", mcp(list), 200);
if (routeTable) await time("POST /mcp/<id> tools/list, 2026-07-28", mcp(list, { method: "tools/list" }), 200);
await time("POST /mcp/<id> tools/call, 2025-11-25 (no-op endpoint, incl. its fetch)", mcp(callTool), 200);
if (routeTable) await time("POST /mcp/<id> tools/call, 2026-07-28 (no-op endpoint, incl. its fetch)", mcp(callTool, { method: "tools/call", name: "tool_3" }), 200);
await time("POST /token refresh_token (rotation)", refresh, 200);
await time("POST /register", register, 201);

await closeData(ctx);
await noop.stop();
fs.rmSync(dir, { recursive: true, force: true });
