// Measures the layers of the app's per-request HTTP path (bench/micro/http-path-server.mjs) with
// autocannon, 32 connections, each server in its own process. Usage:
//   node bench/micro/http-path.mjs [--seconds N]
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { measure } from "../lib/load.mjs";
import { machineInfo, stopChild } from "../lib/proc.mjs";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "5" } } });
const HERE = path.dirname(fileURLToPath(import.meta.url));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-http-path-"));

function start(mode) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(HERE, "http-path-server.mjs"), mode, path.join(dir, `${mode}.log`)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    child.stdout.once("data", (d) => resolve({ child, port: JSON.parse(String(d)).port }));
    child.once("exit", (code) => reject(new Error(`${mode} exited ${code}`)));
  });
}

const m = machineInfo();
console.log(`HTTP path layers: ${m.cores} cores, node ${m.node}, load average ${m.loadavg}, ${values.seconds} s each after 1 s warm-up`);
const modes = ["bare", "request-only", "plain-request", "response-only", "fetch-bridge", "direct-write", "light-bridge", "app-path", "bare"];
let bare;
for (const mode of modes) {
  const { child, port } = await start(mode);
  const r = await measure({ url: `http://127.0.0.1:${port}`, pid: child.pid, options: {}, warmupSeconds: 1, seconds: Number(values.seconds) });
  await stopChild(child);
  bare ??= r.rps;
  console.log(
    `${mode.padEnd(14)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${String(r.p50).padStart(3)} ms  p99 ${String(r.p99).padStart(3)} ms  ` +
      `${(r.rps / bare).toFixed(2)}× bare  ${r.appCpuUsPerReq.toFixed(0).padStart(4)} µs CPU/req  other load ${r.otherCpuCores.toFixed(2)} cores`,
  );
}
fs.rmSync(dir, { recursive: true, force: true });
