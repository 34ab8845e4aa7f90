// Starts the built app (`node bin/toolgate.js serve`) on 127.0.0.1 with a given data folder and
// measures the time from spawning the process to its first answered request.
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { stopChild } from "./proc.mjs";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** One GET with a fresh connection; resolves with the status code or rejects. */
function probe(url, timeoutMs = 1000) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

export function assertBuilt() {
  if (!fs.existsSync(path.join(ROOT, "build", "index.js"))) {
    throw new Error("The app is not built. Run `npm run build` first (the bench never builds).");
  }
}

/**
 * Spawns the app. Its output goes to <dataDir>/app.log (not through this process, which runs the
 * load generator). Resolves once GET /healthz answers 200, with `startupMs` measured from spawn.
 */
export async function startApp({ dataDir, port, env = {}, nodeArgs = [] }) {
  const url = `http://127.0.0.1:${port}`;
  const logFile = path.join(dataDir, "app.log");
  const out = fs.openSync(logFile, "a");
  const t0 = performance.now();
  const child = spawn(process.execPath, [...nodeArgs, path.join(ROOT, "bin", "toolgate.js"), "serve"], {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_ENV: "production",
      PORT: String(port),
      HOST: "127.0.0.1",
      PUBLIC_URL: url,
      TOOLGATE_DATA_DIR: dataDir,
      TOOLGATE_LOG_LEVEL: "info",
      ...env,
    },
    stdio: ["ignore", out, out],
  });
  fs.closeSync(out);
  let startupMs;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`the app exited during start (code ${child.exitCode}):\n${fs.readFileSync(logFile, "utf8").slice(-4000)}`);
    }
    try {
      if ((await probe(`${url}/healthz`, 500)) === 200) {
        startupMs = performance.now() - t0;
        break;
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`the app did not answer within 30 s:\n${fs.readFileSync(logFile, "utf8").slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 2));
  }
  return {
    url,
    pid: child.pid,
    startupMs,
    logFile,
    log: () => fs.readFileSync(logFile, "utf8"),
    stop: () => stopChild(child, 10_000),
  };
}
