import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test as base, expect, type Page } from "@playwright/test";
import { freePort, runCli } from "../helpers/built-app";
import { startCluster } from "../helpers/postgres-cluster";
import { notePostgresApp } from "../helpers/app-db";

export { expect, freePort, runCli };

const ROOT = path.resolve(import.meta.dirname, "../..");

export type AppUnderTest = {
  /** PUBLIC_URL of the running app, e.g. http://localhost:41234 */
  url: string;
  dataDir: string;
  env: NodeJS.ProcessEnv;
  /** Runs `toolgate <args>` against the same data folder. */
  cli(args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Server output so far (JSON log lines). */
  output(): string;
};

/**
 * Starts `toolgate serve` (the built app) on a free port with a fresh data folder. The port is
 * picked and freed before the start (PUBLIC_URL must name it), so it can be taken meanwhile: a start
 * that fails with EADDRINUSE is tried again on another port, and the app is taken as started only
 * once its own "listening" line is out (never another process answering on that port).
 */
export async function startApp(extraEnv: Record<string, string> = {}): Promise<AppUnderTest & { stop(): Promise<void> }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startAppOnce(extraEnv);
    } catch (error) {
      if (!(error instanceof PortTakenError) || attempt >= 3) throw error;
    }
  }
}

class PortTakenError extends Error {}

async function startAppOnce(extraEnv: Record<string, string>): Promise<AppUnderTest & { stop(): Promise<void> }> {
  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-e2e-"));
  const url = `http://localhost:${port}`;
  const env = {
    ...process.env,
    NODE_ENV: "production",
    PORT: String(port),
    HOST: "127.0.0.1",
    PUBLIC_URL: url,
    TOOLGATE_DATA_DIR: dataDir,
    TOOLGATE_LOG_LEVEL: "info",
    // Every browser test comes from 127.0.0.1; the limiter has its own tests (security-rate-limit).
    TOOLGATE_RATE_LIMIT: "off",
    ...extraEnv,
  } as NodeJS.ProcessEnv;
  if (env.TOOLGATE_DATABASE_URL) notePostgresApp(dataDir, env.TOOLGATE_DATABASE_URL);
  let output = "";
  const child: ChildProcess = spawn(process.execPath, [path.join(ROOT, "bin/toolgate.js"), "serve"], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) {
      fs.rmSync(dataDir, { recursive: true, force: true });
      if (output.includes("EADDRINUSE")) throw new PortTakenError(`port ${port} was taken`);
      throw new Error(`toolgate exited early:\n${output}`);
    }
    if (output.includes('"msg":"listening"')) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/healthz`);
        if (res.ok) break;
      } catch {
        // not answering yet
      }
    }
    if (Date.now() > deadline) throw new Error(`toolgate did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    dataDir,
    env,
    output: () => output,
    cli: (args, stdin) => runCli(args, env, stdin),
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await new Promise((r) => child.once("exit", r));
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

let counter = 0;
/** A unique email for this test run. */
export function uniqueEmail(prefix = "user"): string {
  return `${prefix}-${process.pid}-${Date.now()}-${counter++}@example.test`;
}

export const PASSWORD = "correct horse battery staple";

/** Creates a user through the CLI and returns its email. */
export async function createUser(app: AppUnderTest, options: { email?: string; owner?: boolean } = {}) {
  const email = options.email ?? uniqueEmail();
  const args = ["user", "add", "--email", email, "--password-stdin", "--json"];
  if (options.owner) args.push("--owner");
  const res = await app.cli(args, PASSWORD + "\n");
  if (res.code !== 0) throw new Error(`user add failed: ${res.stderr}`);
  return { email, id: JSON.parse(res.stdout).id as string };
}

export async function signIn(page: Page, app: AppUnderTest, email: string, password = PASSWORD) {
  await page.goto(`${app.url}/sign-in`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((u) => !u.pathname.startsWith("/sign-in"));
}

type WorkerFixtures = { app: AppUnderTest };

/** `app`: one running Toolgate per worker, shared by that worker's tests (they use unique users). */
export const test = base.extend<object, WorkerFixtures>({
  app: [
    async ({}, use, workerInfo) => {
      // The `postgres` project runs the same pages on PostgreSQL: a cluster of its own per worker.
      const cluster = workerInfo.project.name === "postgres" ? await startCluster() : undefined;
      try {
        const app = await startApp(cluster ? { TOOLGATE_DATABASE_URL: cluster.url } : {});
        // The first account is the owner; tests create their own users after it.
        await createUser(app, { email: `owner-${process.pid}@example.test`, owner: true });
        await use(app);
        await app.stop();
      } finally {
        await cluster?.stop();
      }
    },
    { scope: "worker" },
  ],
});

/** Whether this project's browser runs JavaScript (the js and postgres projects do, no-js does not). */
export function javaScriptOn(): boolean {
  return test.info().project.use.javaScriptEnabled !== false;
}
