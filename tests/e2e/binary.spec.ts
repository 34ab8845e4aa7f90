/**
 * The single executable, end to end (issue 8): build dist/toolgate, copy it ALONE into an empty
 * folder (no Node, no node_modules next to it), start it there and use it like a self-hoster:
 * pages and protocol endpoints answer, CLI commands work from the same file, a real MCP SDK client
 * is authorized through the consent page in Chromium and calls a tool, SIGTERM during tool calls
 * loses none of them, and a restart keeps users, servers, grants and tokens.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test as base } from "@playwright/test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { callbackInBrowser, startCallback } from "./authorize-data";
import { expect, freePort, PASSWORD, signIn, type AppUnderTest } from "./fixtures";
import { expectAuthorizationRequired, finishAuthorization, MemoryProvider, startToolEndpoint } from "./mcp-client-harness";

const ROOT = path.resolve(import.meta.dirname, "../..");
const test = base;
test.describe.configure({ mode: "serial" });

type Binary = {
  url: string;
  dir: string;
  exe: string;
  child: ChildProcess;
  output(): string;
  cli(args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }>;
};

let workDir: string;
let runDir: string;
let exe: string;
let port: number;
let app: Binary;

/** The environment a service manager would give it: no NODE_* variables, nothing inherited. */
function env(): NodeJS.ProcessEnv {
  return {
    PATH: "/usr/bin:/bin",
    HOME: runDir,
    NODE_ENV: "production",
    PORT: String(port),
    HOST: "127.0.0.1",
    PUBLIC_URL: `http://localhost:${port}`,
    TOOLGATE_LOG_LEVEL: "info",
  } as NodeJS.ProcessEnv;
}

function cli(args: string[], stdin?: string) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(exe, args, { cwd: runDir, env: env(), stdio: "pipe" });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    child.on("exit", (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(stdin ?? "");
  });
}

async function startBinary(): Promise<Binary> {
  let output = "";
  const child = spawn(exe, ["serve"], { cwd: runDir, env: env(), stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the executable exited early:\n${output}`);
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() - started > 15_000) throw new Error(`the executable did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { url: `http://localhost:${port}`, dir: runDir, exe, child, output: () => output, cli };
}

function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((r) => child.once("exit", (code) => r(code)));
}

test.beforeAll(async ({}, testInfo) => {
  // The executable is built and tested once; without JavaScript the consent page is covered by
  // authorize.spec.ts, and this file is about the executable.
  if (testInfo.project.name !== "js") return;
  testInfo.setTimeout(240_000);
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-binary-"));
  const built = path.join(workDir, "build", "toolgate");
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, "scripts/build-binary.mjs"), "--out", built, "--no-measure"], { stdio: "pipe" });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`build-binary failed:\n${out}`))));
  });
  runDir = path.join(workDir, "empty");
  fs.mkdirSync(runDir);
  exe = path.join(runDir, "toolgate");
  fs.copyFileSync(built, exe);
  fs.chmodSync(exe, 0o755);
  expect(fs.readdirSync(runDir)).toEqual(["toolgate"]);
  port = await freePort();
  app = await startBinary();
});

test.afterAll(async () => {
  if (app && app.child.exitCode === null) {
    app.child.kill("SIGKILL");
    await exited(app.child);
  }
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

test.beforeEach(({}, testInfo) => {
  test.skip(testInfo.project.name !== "js", "the executable is built and tested once, in the js project");
});

test("serves pages, static files and the protocol endpoints from the one file", async ({ page }) => {
  expect(await (await fetch(`${app.url}/healthz`)).json()).toEqual({ status: "ok" });
  expect(await (await fetch(`${app.url}/readyz`)).json()).toEqual({ status: "ready" });
  const metadata = await (await fetch(`${app.url}/.well-known/oauth-authorization-server`)).json();
  expect(metadata.issuer).toBe(app.url);
  expect(metadata.token_endpoint).toBe(`${app.url}/token`);
  expect((await fetch(`${app.url}/.well-known/openid-configuration`)).status).toBe(404);

  // First run: the app offers to create the owner; the page loads its scripts and styles.
  const failed: string[] = [];
  page.on("response", (r) => {
    if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
  });
  await page.goto(app.url);
  await expect(page).toHaveURL(/\/setup$/);
  await expect(page.getByLabel("Email")).toBeVisible();
  const hrefs = await page.locator("link[href^='/build/']").evaluateAll((links) => links.map((l) => l.getAttribute("href")));
  expect(hrefs.some((h) => h?.endsWith(".css"))).toBe(true);
  for (const href of hrefs) expect((await fetch(`${app.url}${href}`)).status, href!).toBe(200);
  expect(failed).toEqual([]);
  // Only the executable and the data folder (with the extracted runtime) are in the folder.
  expect(fs.readdirSync(runDir).sort()).toEqual(["data", "toolgate"]);
});

test("CLI commands work from the same file, next to the running server", async () => {
  const help = await cli(["--help"]);
  expect(help.code).toBe(0);
  for (const command of ["serve", "user add", "server create", "backup"]) expect(help.stdout).toContain(command);
  // Help writes nothing to disk.
  const elsewhere = fs.mkdtempSync(path.join(workDir, "help-"));
  const quiet = spawn(exe, ["--help"], { cwd: elsewhere, env: env(), stdio: "ignore" });
  expect(await exited(quiet)).toBe(0);
  expect(fs.readdirSync(elsewhere)).toEqual([]);

  const added = await cli(["user", "add", "--email", "owner@example.test", "--owner", "--password-stdin", "--json"], PASSWORD + "\n");
  expect(added.code, added.stderr).toBe(0);
  // Log lines go to stderr (as JSON), so stdout is only the command's output.
  for (const line of added.stderr.split("\n").filter(Boolean)) expect(() => JSON.parse(line)).not.toThrow();
  expect(JSON.parse(added.stdout)).toMatchObject({ email: "owner@example.test", role: "owner" });

  const backup = path.join(workDir, "backup.db");
  const first = await cli(["backup", "--to", backup, "--json"]);
  expect(first.code).toBe(0);
  expect(JSON.parse(first.stdout)).toMatchObject({ file: backup, secretsFile: `${backup}.secrets.json` });
  const again = await cli(["backup", "--to", backup]);
  expect(again.code).toBe(1);
  expect(again.stderr).toContain("already exists; pass --force");
});

let provider: MemoryProvider;
let mcpUrl: URL;
let endpoint: Awaited<ReturnType<typeof startToolEndpoint>>;

test("a real MCP client is authorized through the consent page and calls a tool", async ({ page }) => {
  endpoint = await startToolEndpoint();
  const toolsFile = path.join(workDir, "tools.json");
  fs.writeFileSync(
    toolsFile,
    JSON.stringify([
      { name: "forecast", description: "Forecast for a city", inputSchema: { type: "object", properties: { city: { type: "string" } } }, endpoint: { url: `${endpoint.url}/forecast` } },
      { name: "slow", description: "Takes its time", inputSchema: { type: "object" }, endpoint: { url: `${endpoint.url}/slow` } },
    ]),
  );
  const created = await cli(["server", "create", "--owner", "owner@example.test", "--name", "Weather", "--tools", toolsFile, "--json"]);
  expect(created.code, created.stderr).toBe(0);
  const server = JSON.parse(created.stdout) as { id: string; mcpUrl: string };
  mcpUrl = new URL(server.mcpUrl);
  expect(mcpUrl.href).toBe(`${app.url}/mcp/${server.id}`);

  const callback = await startCallback();
  try {
    provider = new MemoryProvider(callback.url, { clientName: "Binary E2E Client" });
    await expectAuthorizationRequired(provider, mcpUrl, "binary-e2e");
    expect(provider.authorizationUrl?.pathname).toBe("/authorize");

    await signIn(page, { url: app.url } as AppUnderTest, "owner@example.test");
    await page.goto(provider.authorizationUrl!.toString());
    await expect(page.getByRole("heading", { name: "Authorize Application" })).toBeVisible();
    await expect(page.getByText("Binary E2E Client").first()).toBeVisible();
    await page.getByRole("button", { name: "Approve" }).click();
    const code = (await callbackInBrowser(page, callback)).get("code");
    expect(code).toMatch(/^tgc_/);

    const client = await finishAuthorization(provider, mcpUrl, code!, "binary-e2e");
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(["forecast", "slow"]);
      const result = await client.callTool({ name: "forecast", arguments: { city: "Lyon" } });
      expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
      expect(JSON.stringify(result.content)).toContain("called /forecast");
    } finally {
      await client.close();
    }
  } finally {
    await callback.close();
  }
});

test("SIGTERM during tool calls loses none of them; a restart keeps users, servers, grants and tokens", async () => {
  const client = new Client({ name: "binary-e2e", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }));
  const N = 16;
  const calls = Array.from({ length: N }, () => client.callTool({ name: "slow", arguments: {} }));
  const failures: unknown[] = [];
  for (const call of calls) call.catch((error: unknown) => failures.push(error));
  const deadline = Date.now() + 10_000;
  while (endpoint.inFlight() < N) {
    if (failures.length > 0) throw new Error(`a call failed before the signal: ${String(failures[0])}`);
    if (Date.now() > deadline) throw new Error(`only ${endpoint.inFlight()} calls reached the endpoint:\n${app.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  app.child.kill("SIGTERM");
  const results = await Promise.all(calls);
  for (const r of results) {
    expect(r.isError).toBeFalsy();
    expect(JSON.stringify(r.content)).toContain("called /slow");
  }
  await client.close();
  expect(await exited(app.child)).toBe(0);
  const lines = app.output().trim().split("\n").map((l) => JSON.parse(l));
  expect(lines.find((l) => l.msg === "shutting down")).toMatchObject({ signal: "SIGTERM", inFlight: N });
  expect(lines.at(-1).msg).toBe("stopped");
  // The database was closed cleanly: its write-ahead log was checkpointed and removed.
  expect(fs.existsSync(path.join(runDir, "data", "toolgate.db-wal"))).toBe(false);

  // A damaged runtime folder (the extracted addon deleted) is extracted again at the next start.
  const runtime = path.join(runDir, "data", ".runtime");
  const [version] = fs.readdirSync(runtime).filter((n) => !n.startsWith("."));
  fs.rmSync(path.join(runtime, version!, "addon", "better_sqlite3.node"));

  // Restart from the same file and folder: the stored token still works, the user can sign in.
  app = await startBinary();
  expect(fs.existsSync(path.join(runtime, version!, "addon", "better_sqlite3.node"))).toBe(true);
  const again = new Client({ name: "binary-e2e", version: "1.0.0" });
  await again.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }));
  const result = await again.callTool({ name: "forecast", arguments: {} });
  expect(result.isError).toBeFalsy();
  await again.close();
  const users = await cli(["user", "list", "--json"]);
  expect(users.stdout).toContain("owner@example.test");
  await endpoint.close();
  app.child.kill("SIGTERM");
  expect(await exited(app.child)).toBe(0);
});
