/**
 * The built app as a separate process, for integration and browser tests alike (so it imports
 * nothing from the app or a test runner): a free port to serve on, and its CLI run the way an
 * operator runs it (bin/toolgate.js loads build/index.js, so `npm run build` first).
 */
import { spawn } from "node:child_process";
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
