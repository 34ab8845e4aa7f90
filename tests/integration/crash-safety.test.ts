/**
 * Crash safety (issue 7): the built app (`node bin/toolgate.js serve`) under a load of
 * registrations, code exchanges and tool calls is killed with SIGKILL, then started again on the
 * same data folder. The database must be intact, every token a client had fully received must
 * still work, and no grant may be half-written. SECURITY.md quotes the figures this test prints.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, expect, it } from "vitest";
import { PASSWORD, runCli } from "../e2e/fixtures";
import { serveBuiltApp } from "../helpers/built-app";
import { startToolEndpoint } from "../helpers/mcp";

const ROOT = path.resolve(import.meta.dirname, "../..");
const REDIRECT = "https://client.example.test/callback";

let child: ChildProcess | undefined;
let dataDir = "";
let endpoint: Awaited<ReturnType<typeof startToolEndpoint>> | undefined;

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await endpoint?.close();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

/** Starts the app again on its port (its own, freed by the kill) and data folder. */
async function serve(env: NodeJS.ProcessEnv, port: number): Promise<ChildProcess> {
  const proc = spawn(process.execPath, [path.join(ROOT, "bin/toolgate.js"), "serve"], { env, stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  proc.stderr!.on("data", (d) => (err += d));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`toolgate exited early: ${err}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok) return proc;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`toolgate did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

it("survives SIGKILL under load: integrity ok, no token lost, no half-written grant", { timeout: 90_000 }, async () => {
  endpoint = await startToolEndpoint();
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-crash-"));
  const served = await serveBuiltApp(
    (port) =>
      ({
        ...process.env,
        NODE_ENV: "production",
        PORT: String(port),
        HOST: "127.0.0.1",
        PUBLIC_URL: `http://localhost:${port}`,
        TOOLGATE_DATA_DIR: dataDir,
        TOOLGATE_LOG_LEVEL: "warn",
        TOOLGATE_RATE_LIMIT: "off",
      }) as NodeJS.ProcessEnv,
  );
  child = served.child;
  const { env, port } = served;
  const base = env.PUBLIC_URL!;

  const owner = "crash-owner@example.test";
  expect((await runCli(["user", "add", "--email", owner, "--password-stdin", "--owner"], env, PASSWORD + "\n")).code).toBe(0);
  const toolsFile = path.join(dataDir, "tools.json");
  fs.writeFileSync(toolsFile, JSON.stringify([{ name: "echo", description: "Echoes", inputSchema: { type: "object" }, endpoint: { url: `${endpoint.url}/echo` } }]));
  const created = await runCli(["server", "create", "--owner", owner, "--name", "Crash", "--tools", toolsFile], env);
  expect(created.code, created.stderr).toBe(0);

  const db = new Database(path.join(dataDir, "toolgate.db"));
  db.pragma("busy_timeout = 5000");
  const { serverId, userId, toolId } = db
    .prepare("SELECT s.id AS serverId, s.owner_id AS userId, t.id AS toolId FROM mcp_servers s JOIN tools t ON t.server_id = s.id")
    .get() as { serverId: string; userId: string; toolId: string };
  const resource = `${base}/mcp/${serverId}`;
  const hash = (s: string) => createHash("sha256").update(s).digest("hex");

  const register = async () => {
    const res = await fetch(`${base}/register`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ client_name: "Crash client", redirect_uris: [REDIRECT], token_endpoint_auth_method: "none" }) });
    return res.status === 201 ? ((await res.json()) as { client_id: string }).client_id : null;
  };
  /** What the consent page's Approve writes, minted straight into the database for speed. */
  const mintCode = (clientId: string) => {
    const verifier = randomBytes(32).toString("base64url");
    const code = `tgc_${randomBytes(32).toString("base64url")}`;
    const grantId = randomBytes(16).toString("base64url");
    const now = Date.now();
    db.transaction(() => {
      db.prepare("INSERT INTO grants (id, user_id, client_id, server_id, scope, created_at, updated_at) VALUES (?, ?, ?, ?, 'mcp:tools', ?, ?)").run(grantId, userId, clientId, serverId, now, now);
      db.prepare("INSERT INTO grant_tools (grant_id, tool_id) VALUES (?, ?)").run(grantId, toolId);
      db.prepare(
        "INSERT INTO authorization_codes (code_hash, grant_id, client_id, user_id, server_id, redirect_uri, redirect_uri_provided, code_challenge, scope, resource, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?, 'mcp:tools', ?, ?, ?)",
      ).run(hash(code), grantId, clientId, userId, serverId, REDIRECT, createHash("sha256").update(verifier).digest("base64url"), resource, now, now + 60_000);
    })();
    return { code, verifier };
  };
  const exchange = async (clientId: string) => {
    const { code, verifier } = mintCode(clientId);
    const res = await fetch(`${base}/token`, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ grant_type: "authorization_code", client_id: clientId, code, code_verifier: verifier, redirect_uri: REDIRECT }) });
    if (res.status !== 200) return null;
    // Only a response read to the end counts as received.
    return ((await res.json()) as { access_token: string }).access_token;
  };
  const mcp = (token: string, body: unknown) =>
    fetch(`${base}/mcp/${serverId}`, { method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream", Authorization: `Bearer ${token}` }, body: JSON.stringify(body) });

  // A signed-in browser for consent approvals (grants written by the app itself).
  const signInPage = await fetch(`${base}/sign-in`);
  const preCookie = signInPage.headers.get("set-cookie")!.split(";")[0]!;
  const lastCsrf = (html: string) => [...html.matchAll(/name="csrf" value="([^"]+)"/g)].at(-1)![1]!;
  const signedIn = await fetch(`${base}/sign-in`, { method: "POST", redirect: "manual", headers: { Cookie: preCookie, "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ csrf: lastCsrf(await signInPage.text()), returnTo: "/", email: owner, password: PASSWORD }) });
  expect(signedIn.status).toBe(302);
  const cookie = signedIn.headers.get("set-cookie")!.split(";")[0]!;
  /** The consent flow over HTTP: GET /authorize, the consent page, Approve; then the code exchange. */
  const approve = async (clientId: string) => {
    const verifier = randomBytes(32).toString("base64url");
    const q = new URLSearchParams({ response_type: "code", client_id: clientId, redirect_uri: REDIRECT, code_challenge: createHash("sha256").update(verifier).digest("base64url"), code_challenge_method: "S256", state: "s", resource });
    const start = await fetch(`${base}/authorize?${q}`, { redirect: "manual", headers: { Cookie: cookie } });
    if (start.status !== 302) return null;
    const requestId = new URL(start.headers.get("location")!, base).searchParams.get("request")!;
    const page = await fetch(`${base}/authorize?request=${requestId}`, { headers: { Cookie: cookie } });
    const done = await fetch(`${base}/authorize`, { method: "POST", redirect: "manual", headers: { Cookie: cookie, Origin: base, "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams([["csrf", lastCsrf(await page.text())], ["request", requestId], ["tool", toolId], ["intent", "approve"]]) });
    if (done.status !== 303) return null;
    const code = new URL(done.headers.get("location")!).searchParams.get("code")!;
    const res = await fetch(`${base}/token`, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ grant_type: "authorization_code", client_id: clientId, code, code_verifier: verifier, redirect_uri: REDIRECT }) });
    return res.status === 200 ? ((await res.json()) as { access_token: string }).access_token : null;
  };

  // Warm up: a few clients and tokens to call tools with.
  const clients: string[] = [];
  for (let i = 0; i < 5; i++) clients.push((await register())!);
  const received: string[] = [];
  for (const c of clients) received.push((await exchange(c))!);
  expect(received.every(Boolean)).toBe(true);

  // Load: four workers of each kind until the kill; a failure after the kill is expected.
  let killed = false;
  const stats = { registrations: 0, grants: 0, approvals: 0, toolCalls: 0 };
  const loop = async (work: () => Promise<void>) => {
    while (!killed) {
      try {
        await work();
      } catch {
        // connection reset by the kill
      }
    }
  };
  const workers = [
    ...Array.from({ length: 4 }, () => loop(async () => {
      const id = await register();
      if (id && !killed) {
        clients.push(id);
        stats.registrations++;
      }
    })),
    ...Array.from({ length: 4 }, () => loop(async () => {
      const token = await exchange(clients[Math.floor(Math.random() * clients.length)]!);
      if (token) {
        received.push(token);
        stats.grants++;
      }
    })),
    ...Array.from({ length: 2 }, () => loop(async () => {
      const token = await approve(clients[Math.floor(Math.random() * clients.length)]!);
      if (token) {
        received.push(token);
        stats.approvals++;
      }
    })),
    ...Array.from({ length: 4 }, () => loop(async () => {
      const res = await mcp(received[Math.floor(Math.random() * received.length)]!, { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "echo", arguments: { n: 1 } } });
      await res.text();
      if (res.status === 200) stats.toolCalls++;
    })),
  ];
  // At least 2.5 s of load, ten of each kind (three consent approvals, the slowest), up to 15 s on a
  // busy machine, then the kill.
  const loadStart = Date.now();
  while (Date.now() - loadStart < 15_000 && (Date.now() - loadStart < 2500 || (Math.min(stats.registrations, stats.grants, stats.toolCalls) < 10 || stats.approvals < 3))) {
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill("SIGKILL");
  killed = true;
  await new Promise((r) => child!.once("exit", r));
  await Promise.all(workers);
  db.close();
  expect(stats.registrations).toBeGreaterThanOrEqual(10);
  expect(stats.grants).toBeGreaterThanOrEqual(10);
  expect(stats.approvals).toBeGreaterThanOrEqual(3);
  expect(stats.toolCalls).toBeGreaterThanOrEqual(10);

  child = await serve(env, port);
  const after = new Database(path.join(dataDir, "toolgate.db"));
  try {
    expect(after.pragma("integrity_check", { simple: true })).toBe("ok");
    expect(after.pragma("foreign_key_check")).toEqual([]);
    const count = (sql: string) => (after.prepare(sql).get() as { n: number }).n;
    // No half-written grant: every grant has its tools, every code/token points at an existing row.
    expect(count("SELECT count(*) AS n FROM grants WHERE id NOT IN (SELECT grant_id FROM grant_tools)")).toBe(0);
    expect(count("SELECT count(*) AS n FROM authorization_codes WHERE grant_id NOT IN (SELECT id FROM grants)")).toBe(0);
    expect(count("SELECT count(*) AS n FROM authorization_codes WHERE family_id IS NOT NULL AND family_id NOT IN (SELECT id FROM token_families)")).toBe(0);
    expect(count("SELECT count(*) AS n FROM token_families WHERE grant_id NOT IN (SELECT id FROM grants)")).toBe(0);
    expect(count("SELECT count(*) AS n FROM access_tokens WHERE family_id NOT IN (SELECT id FROM token_families)")).toBe(0);
    expect(count("SELECT count(*) AS n FROM refresh_tokens WHERE family_id NOT IN (SELECT id FROM token_families)")).toBe(0);
    // A family is written with its tokens in one transaction: none without an access token.
    expect(count("SELECT count(*) AS n FROM token_families WHERE id NOT IN (SELECT family_id FROM access_tokens)")).toBe(0);
    expect(count("SELECT count(*) AS n FROM authorization_codes WHERE used_at IS NOT NULL AND family_id IS NULL")).toBe(0);
  } finally {
    after.close();
  }

  // Every token a client had fully received before the kill still works.
  let lost = 0;
  for (const token of received) {
    const res = await mcp(token, { jsonrpc: "2.0", id: 2, method: "tools/list" });
    const body = (await res.json()) as { result?: { tools: { name: string }[] } };
    if (res.status !== 200 || body.result?.tools[0]?.name !== "echo") lost++;
  }
  console.log(
    `crash safety: ${stats.registrations} registrations, ${stats.grants} token grants, ${stats.approvals} consent approvals, ${stats.toolCalls} tool calls before SIGKILL; ${received.length} tokens checked after restart, ${lost} lost`,
  );
  expect(lost).toBe(0);
  child.kill("SIGTERM");
  await new Promise((r) => child!.once("exit", r));
});
