/**
 * The built app as a separate process, for integration and browser tests alike (so it imports
 * nothing from the app or a test runner): a free port to serve on, and its CLI run the way an
 * operator runs it (bin/toolgate.js loads build/index.js, so `npm run build` first).
 */
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "../..");

export type CliResult = { code: number; stdout: string; stderr: string };

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Whether a start failed because its port was taken (EADDRINUSE, as an error code or in the message). */
export function isPortTaken(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown } | null;
  return e?.code === "EADDRINUSE" || String(e?.message ?? "").includes("EADDRINUSE");
}

/**
 * Runs `start` with a port that was free a moment ago. A port picked and freed can be taken before
 * the start listens on it (by any process; even an outgoing connection's local port), so a start
 * that fails with EADDRINUSE is tried again on another port, up to three times. For starts that
 * must know their port beforehand (PUBLIC_URL names it); the others listen on port 0.
 */
export async function onFreePort<T>(start: (port: number) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return await start(port);
    } catch (error) {
      if (attempt >= 3 || !isPortTaken(error)) throw error;
    }
  }
}

export type ServedApp = { child: ChildProcess; port: number; env: NodeJS.ProcessEnv; output(): string };

/**
 * Starts `toolgate serve` (the built app) with `envFor(port)` on a free port (onFreePort) and waits
 * until `readyPath` answers 2xx while the process still runs. Its stdout and stderr are collected.
 */
export function serveBuiltApp(envFor: (port: number) => NodeJS.ProcessEnv, readyPath = "/readyz"): Promise<ServedApp> {
  return onFreePort(async (port) => {
    const env = envFor(port);
    let output = "";
    const child = spawn(process.execPath, [path.join(ROOT, "bin/toolgate.js"), "serve"], { env, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout!.on("data", (d: Buffer) => (output += d));
    child.stderr!.on("data", (d: Buffer) => (output += d));
    // "close": the process exited and its output is all read (the EADDRINUSE message included).
    const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        await exited;
        throw new Error(`toolgate serve exited early:\n${output}`);
      }
      const ready = await fetch(`http://127.0.0.1:${port}${readyPath}`).then((r) => r.ok, () => false);
      if (ready && child.exitCode === null) return { child, port, env, output: () => output };
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        throw new Error(`toolgate serve did not start:\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  });
}

/** Runs `toolgate ARGS` with exactly `env`, writes `stdin` and waits for the exit. */
export function runCli(args: string[], env: NodeJS.ProcessEnv, stdin = ""): Promise<CliResult> {
  return new Promise<CliResult>((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, "bin/toolgate.js"), ...args], { env, stdio: "pipe" });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    child.on("exit", (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(stdin);
  });
}
