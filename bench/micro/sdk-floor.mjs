// The MCP SDK's own floor for `tools/list` over HTTP, beside bare node:http, each server in its own
// process, autocannon at 32 connections (bench/micro/sdk-floor-server.mjs says what each does).
// It answers: how close to bare can an endpoint that uses the SDK for classification and dispatch
// get, before any authorization, database or logging? `call` is the same question for a `tools/call`
// forwarded to a no-op tool endpoint (bench/lib/child-server.mjs noop-tool, as in the bench).
// Usage: node bench/micro/sdk-floor.mjs [--seconds N] [--modes bare,legacy,modern,call]
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { measure } from "../lib/load.mjs";
import os from "node:os";
import fs from "node:fs";
import { machineInfo, startChildServer, stopChild } from "../lib/proc.mjs";
import { MCP_MODERN_VERSION, MCP_PROTOCOL_VERSION } from "../lib/scenarios.mjs";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "5" }, modes: { type: "string", default: "legacy,modern,call" } } });
const HERE = path.dirname(fileURLToPath(import.meta.url));

const upstream = await startChildServer("noop-tool", fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-floor-")));

function start(mode) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(HERE, "sdk-floor-server.mjs"), mode], {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, UPSTREAM_PORT: String(upstream.port) },
    });
    child.stdout.once("data", (d) => resolve({ child, port: JSON.parse(String(d)).port }));
    child.once("exit", (code) => reject(new Error(`${mode} exited ${code}`)));
  });
}

const envelope = {
  "io.modelcontextprotocol/protocolVersion": MCP_MODERN_VERSION,
  "io.modelcontextprotocol/clientInfo": { name: "toolgate-bench", version: "1" },
  "io.modelcontextprotocol/clientCapabilities": {},
};
const requests = {
  bare: { method: "GET" },
  legacy: {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-protocol-version": MCP_PROTOCOL_VERSION },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list", params: {} }),
  },
  modern: {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", "mcp-protocol-version": MCP_MODERN_VERSION, "mcp-method": "tools/list" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list", params: { _meta: envelope } }),
  },
  call: {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-protocol-version": MCP_PROTOCOL_VERSION },
    body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "tool_3", arguments: { query: "bench" } } }),
  },
};
const expected = {
  legacy: (a) => a.result?.tools?.length === 10,
  modern: (a) => a.result?.tools?.length === 10,
  call: (a) => a.result?.content?.[0]?.type === "text",
};

const m = machineInfo();
console.log(`MCP SDK floor: ${m.cores} cores, node ${m.node}, load average ${m.loadavg}, ${values.seconds} s each after 1 s warm-up`);
const results = [];
for (const mode of ["bare", ...values.modes.split(","), "bare"]) {
  const { child, port } = await start(mode);
  const probe = await fetch(`http://127.0.0.1:${port}`, requests[mode]);
  const text = await probe.text();
  if (mode !== "bare" && (probe.status !== 200 || !expected[mode](JSON.parse(text)))) throw new Error(`${mode} probe: ${probe.status} ${text.slice(0, 300)}`);
  const r = await measure({ url: `http://127.0.0.1:${port}`, pid: child.pid, options: requests[mode], warmupSeconds: 1, seconds: Number(values.seconds) });
  await stopChild(child);
  results.push({ mode, r });
}
await upstream.stop();
const bare = (results[0].r.rps + results.at(-1).r.rps) / 2;
for (const { mode, r } of results) {
  console.log(
    `${mode.padEnd(8)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${String(r.p50).padStart(3)} ms  p99 ${String(r.p99).padStart(3)} ms  ` +
      `${(r.rps / bare).toFixed(2)}× bare  ${r.appCpuUsPerReq.toFixed(0).padStart(4)} µs CPU/req  other load ${r.otherCpuCores.toFixed(2)} cores`,
  );
}
