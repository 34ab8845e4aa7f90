/**
 * The official MCP conformance suite (@modelcontextprotocol/conformance 0.2.0-alpha.12, server
 * scenarios) against the built app (`toolgate serve`), at `--spec-version 2026-07-28` and at
 * 2025-11-25, holding a real token: a client registered at /register, approved by a signed-in user
 * on the consent page (GET /authorize, the page, Approve) and exchanged at /token.
 *
 * The suite's client cannot present a bearer token, so it talks to Toolgate through a forward
 * proxy on 127.0.0.1 that adds `Authorization: Bearer <token>` to each request and changes nothing
 * else: method, path, every other header (Origin, Host, Accept, MCP-Protocol-Version, Mcp-Method,
 * Mcp-Name, Mcp-Param-*) and the body go through as sent, and Toolgate's answers come back byte for
 * byte. A control run without the proxy shows the suite is refused (401), so the proxy is the token
 * and only the token.
 *
 * The suite needs Node 22 and stays out of the project's install (no engine warnings in `npm ci`):
 * scripts/ensure-node22.mjs installs both from the npm registry into .cache/ on first use.
 */
import { execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUser, PASSWORD, startApp, type AppUnderTest } from "../e2e/fixtures";
import { startToolEndpoint } from "../helpers/mcp";

const ROOT = path.resolve(import.meta.dirname, "../..");
const ENSURE = path.join(ROOT, "scripts/ensure-node22.mjs");
const REDIRECT = "http://127.0.0.1:45999/callback";

/** A forward proxy that adds the bearer token and passes everything else through unchanged. */
async function startAuthProxy(target: string, accessToken: string) {
  const upstream = new URL(target);
  const server = http.createServer((req, res) => {
    const forward = http.request(
      { host: "127.0.0.1", port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, authorization: `Bearer ${accessToken}` } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on("error", () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://localhost:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A token the way a real client gets one: registration, the consent page approved, the code exchanged. */
async function tokenThroughConsent(base: string, email: string, serverId: string): Promise<string> {
  const registered = await fetch(`${base}/register`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ client_name: "Conformance suite", redirect_uris: [REDIRECT], token_endpoint_auth_method: "none" }),
  });
  expect(registered.status).toBe(201);
  const clientId = ((await registered.json()) as { client_id: string }).client_id;

  const lastCsrf = (html: string) => [...html.matchAll(/name="csrf" value="([^"]+)"/g)].at(-1)![1]!;
  const signInPage = await fetch(`${base}/sign-in`);
  const preCookie = signInPage.headers.get("set-cookie")!.split(";")[0]!;
  const signedIn = await fetch(`${base}/sign-in`, {
    method: "POST",
    redirect: "manual",
    headers: { Cookie: preCookie, Origin: base, "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ csrf: lastCsrf(await signInPage.text()), returnTo: "/", email, password: PASSWORD }),
  });
  expect(signedIn.status).toBe(302);
  const cookie = signedIn.headers.get("set-cookie")!.split(";")[0]!;

  const verifier = randomBytes(32).toString("base64url");
  const query = new URLSearchParams({
    response_type: "code",
    client_id: clientId,
    redirect_uri: REDIRECT,
    code_challenge: createHash("sha256").update(verifier).digest("base64url"),
    code_challenge_method: "S256",
    state: "conformance",
    resource: `${base}/mcp/${serverId}`,
    scope: "mcp:tools",
  });
  const start = await fetch(`${base}/authorize?${query}`, { redirect: "manual", headers: { Cookie: cookie } });
  expect(start.status).toBe(302);
  const requestId = new URL(start.headers.get("location")!, base).searchParams.get("request")!;
  const page = await (await fetch(`${base}/authorize?request=${requestId}`, { headers: { Cookie: cookie } })).text();
  expect(page).toContain("Authorize Application");
  const toolIds = [...page.matchAll(/name="tool"[^>]*? value="([^"]+)"/g)].map((m) => m[1]!);
  expect(toolIds).toHaveLength(3);
  const approved = await fetch(`${base}/authorize`, {
    method: "POST",
    redirect: "manual",
    headers: { Cookie: cookie, Origin: base, "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams([["csrf", lastCsrf(page)], ["request", requestId], ...toolIds.map((id) => ["tool", id]), ["intent", "approve"]]),
  });
  expect(approved.status).toBe(303);
  const code = new URL(approved.headers.get("location")!).searchParams.get("code")!;
  const exchanged = await fetch(`${base}/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "authorization_code", client_id: clientId, code, code_verifier: verifier, redirect_uri: REDIRECT }),
  });
  expect(exchanged.status).toBe(200);
  return ((await exchanged.json()) as { access_token: string }).access_token;
}

type Check = { id: string; status: string; errorMessage?: string };

/** Runs one server scenario with Node 22 and returns the checks it wrote. */
async function runScenario(node22: string, suite: string, url: string, scenario: string, specVersion: string) {
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-conformance-"));
  try {
    const { code, output } = await new Promise<{ code: number; output: string }>((resolve) => {
      const child = spawn(node22, [suite, "server", "--url", url, "--scenario", scenario, "--spec-version", specVersion, "-o", outDir], {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, NO_COLOR: "1" },
      });
      let output = "";
      child.stdout.on("data", (d: Buffer) => (output += d));
      child.stderr.on("data", (d: Buffer) => (output += d));
      child.on("exit", (c) => resolve({ code: c ?? 1, output }));
      child.on("error", (error) => resolve({ code: 1, output: `${output}\n${error.message}` }));
    });
    const files = fs.readdirSync(outDir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith("checks.json"));
    const checks = files.flatMap((f) => JSON.parse(fs.readFileSync(path.join(outDir, f), "utf8")) as Check[]);
    return { code, checks, output };
  } finally {
    fs.rmSync(outDir, { recursive: true, force: true });
  }
}

/**
 * server-stateless checks that need the suite's own diagnostic tools (one that requires the
 * client's sampling capability, one that streams an elicitation, one that logs): Toolgate's tools
 * are HTTP endpoints and use none of these, so the suite reports them "Not testable". Every other
 * check of the scenario must pass.
 */
const NEEDS_DIAGNOSTIC_TOOLS = [
  "sep-2575-server-rejects-undeclared-capability",
  "sep-2575-missing-capability-http-400",
  "sep-2575-http-server-no-independent-requests-on-stream",
  "sep-2575-server-no-log-without-loglevel",
];

describe("MCP conformance suite (server scenarios) against Toolgate", () => {
  let app: AppUnderTest & { stop(): Promise<void> };
  let endpoint: Awaited<ReturnType<typeof startToolEndpoint>>;
  let proxy: Awaited<ReturnType<typeof startAuthProxy>>;
  let serverId: string;
  let node22: string;
  let suite: string;

  beforeAll(async () => {
    node22 = execFileSync(process.execPath, [ENSURE], { encoding: "utf8" }).trim();
    suite = execFileSync(process.execPath, [ENSURE, "--conformance"], { encoding: "utf8" }).trim();
    endpoint = await startToolEndpoint();
    app = await startApp();
    const { email } = await createUser(app, { owner: true });
    // Tools named as the scenarios expect, each backed by a real endpoint answering as they
    // require; one declares an x-mcp-header parameter (http-custom-header-server-validation).
    const toolsFile = path.join(app.dataDir, "conformance-tools.json");
    fs.writeFileSync(
      toolsFile,
      JSON.stringify([
        { name: "test_simple_text", description: "Returns a simple text response", inputSchema: { type: "object" }, endpoint: { url: `${endpoint.url}/mcp-text` } },
        { name: "test_error_handling", description: "Always returns an error result", inputSchema: { type: "object" }, endpoint: { url: `${endpoint.url}/mcp-error` } },
        {
          name: "test_region_lookup",
          description: "Looks up a region (the region travels in the Mcp-Param-Region header too)",
          inputSchema: { type: "object", properties: { region: { type: "string", "x-mcp-header": "Region" } }, required: ["region"] },
          endpoint: { url: `${endpoint.url}/echo` },
        },
      ]),
    );
    const created = await app.cli(["server", "create", "--owner", email, "--name", "Conformance", "--tools", toolsFile, "--json"]);
    expect(created.code, created.stderr).toBe(0);
    serverId = (JSON.parse(created.stdout) as { id: string }).id;
    const token = await tokenThroughConsent(app.url, email, serverId);
    proxy = await startAuthProxy(app.url, token);
  }, 180_000);

  afterAll(async () => {
    await proxy?.close();
    await app?.stop();
    await endpoint?.close();
  });

  const passes = async (scenario: string, specVersion: string, notTestable: string[] = []) => {
    const result = await runScenario(node22, suite, `${proxy.url}/mcp/${serverId}`, scenario, specVersion);
    expect(result.checks.length, result.output).toBeGreaterThan(0);
    const failed = result.checks.filter((c) => c.status === "FAILURE" && !notTestable.includes(c.id));
    expect(failed, result.output).toEqual([]);
    for (const id of notTestable) {
      const check = result.checks.find((c) => c.id === id);
      expect(check?.errorMessage ?? "", `${id}\n${result.output}`).toMatch(/^Not testable: /);
    }
    if (notTestable.length === 0) expect(result.code, result.output).toBe(0);
    return result;
  };

  describe("--spec-version 2026-07-28", () => {
    it.each(["tools-list", "caching", "http-header-validation", "http-custom-header-server-validation", "dns-rebinding-protection", "tools-call-simple-text", "tools-call-error"])(
      "passes %s",
      async (scenario) => void (await passes(scenario, "2026-07-28")),
      90_000,
    );

    it("passes server-stateless (all but the checks that need the suite's diagnostic tools)", async () => {
      const result = await passes("server-stateless", "2026-07-28", NEEDS_DIAGNOSTIC_TOOLS);
      expect(result.checks.filter((c) => c.status === "SUCCESS").length).toBeGreaterThanOrEqual(10);
    }, 90_000);
  });

  describe("--spec-version 2025-11-25", () => {
    it.each(["server-initialize", "ping", "tools-list", "tools-call-simple-text", "tools-call-error", "dns-rebinding-protection"])(
      "passes %s",
      async (scenario) => void (await passes(scenario, "2025-11-25")),
      90_000,
    );
  });

  it("control: without the token the suite is refused (the endpoint demands a bearer token)", async () => {
    const result = await runScenario(node22, suite, `${app.url}/mcp/${serverId}`, "tools-list", "2026-07-28");
    expect(result.checks.map((c) => c.status)).toContain("FAILURE");
    expect(result.output).toMatch(/401|Unauthorized|invalid_token|requires an access token/i);
    expect(result.code).not.toBe(0);
  }, 90_000);
});
