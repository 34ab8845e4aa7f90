/**
 * Logs after real flows: every line is JSON, lines written while handling a request carry its id,
 * and no token, code, secret, password, CSRF token or cookie appears anywhere in them. Also: the
 * client address behind a trusted proxy, and PUBLIC_URL (never the Host header) in absolute URLs.
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "~/http/server.server";
import { createLogger, scrub, scrubText } from "~/utils/log.server";
import { runCli, serveBuiltApp } from "../helpers/built-app";
import type { TestContext } from "../helpers/context";
import { startServerWithIssuer } from "../helpers/http";
import { connectClient, seedServer, startToolEndpoint } from "../helpers/mcp";
import { issueCode, pkcePair, postForm } from "./oauth-fixtures";

const ROOT = path.resolve(import.meta.dirname, "../..");

/** Fails listing every secret found in the log text. */
function expectNoSecrets(logText: string, secrets: Record<string, string>) {
  const leaked = Object.entries(secrets).filter(([, value]) => value.length >= 6 && logText.includes(value));
  expect(leaked.map(([name]) => name)).toEqual([]);
  // Whatever the list above misses: no bearer secret of ours, in any form, is ever written.
  expect(logText).not.toMatch(/tg[arcs]_[A-Za-z0-9_-]{8,}/);
}

function parseLines(text: string) {
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON log line: ${line}`);
      }
    });
}

describe("redaction", () => {
  it("redacts secret fields at any depth, secret-looking text, and query strings", async () => {
    const lines: string[] = [];
    const logger = createLogger("debug", (l) => lines.push(l));
    const token = `tga_${randomBytes(24).toString("base64url")}`;
    logger.info("calling", {
      headers: { authorization: `Bearer ${token}` },
      nested: { deeper: { clientSecret: "s3cr3t-value", refresh_token: "r", sessionId: "sid-value", ok: "visible" } },
      error: new Error(`token ${token} was refused`),
      url: new URL(`https://a.example/cb?code=abc123def&state=st4te-value&x=1`),
      list: [{ password: "hunter22" }],
      statusCode: 401,
    });
    const out = lines.join("\n");
    for (const secret of [token, "s3cr3t-value", "sid-value", "abc123def", "st4te-value", "hunter22"]) expect(out).not.toContain(secret);
    const parsed = JSON.parse(lines[0]!);
    expect(parsed.nested.deeper.ok).toBe("visible");
    expect(parsed.statusCode).toBe(401);
    expect(parsed.url).toBe("https://a.example/cb?code=[redacted]&state=[redacted]&x=1");
    expect(scrub({ dataKey: Buffer.alloc(32) })).toEqual({ dataKey: "[redacted]" });
  });

  it("redacts secrets in free text whatever separates them, and leaves plain text as it is", async () => {
    const token = `tgr_${randomBytes(24).toString("base64url")}`;
    for (const text of [token, `x${"\t"}Bearer${"\t"}abc.def`, `Basic\nYWxhZGRpbjpvcGVu`, `/cb?code=c0de`, `/cb?x=1&state=s7ate`, `(${token})`]) {
      const out = scrubText(text);
      expect(out, text).toContain("[redacted]");
      for (const secret of [token, "abc.def", "YWxhZGRpbjpvcGVu", "c0de", "s7ate"]) expect(out).not.toContain(secret);
    }
    for (const plain of ["/mcp/bULq0aYfHm0L802zmxh8AQ", "127.0.0.1", "POST", "d0d00c5d-5027-4e7b-a379-108cc7d3c24f", "::ffff:10.0.0.1"]) {
      expect(scrubText(plain)).toBe(plain);
    }
  });
});

describe("the protocol flow's logs", () => {
  let ctx: TestContext;
  let server: RunningServer;
  let endpoint: Awaited<ReturnType<typeof startToolEndpoint>>;
  afterEach(async () => {
    await server?.close(100);
    await endpoint?.close();
    ctx?.cleanup();
  });

  it("register → token → tools/call → refresh → revoke, and failures, leave no secret in the logs", async () => {
    ({ ctx, server } = await startServerWithIssuer());
    endpoint = await startToolEndpoint();
    const seeded = await seedServer(ctx, endpoint.url, [{ name: "echo", path: "/echo" }]);
    const base = ctx.config.publicUrl;
    const redirectUri = "http://127.0.0.1:51234/callback";

    const reg = await fetch(`${base}/register`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ client_name: "Log test", redirect_uris: [redirectUri], token_endpoint_auth_method: "client_secret_post" }),
    });
    expect(reg.status).toBe(201);
    const client = (await reg.json()) as { client_id: string; client_secret: string };

    const { verifier, challenge } = pkcePair();
    const { code, grantId } = await issueCode(ctx, { clientId: client.client_id, userId: seeded.userId, serverId: seeded.serverId, redirectUri });
    await ctx.queryRows("update authorization_codes set code_challenge = ?", challenge);
    await ctx.queryRows("insert into grant_tools (grant_id, tool_id) select ?, id from tools where server_id = ?", grantId, seeded.serverId);
    const resource = `${base}/mcp/${seeded.serverId}`;
    const tokenRes = await postForm(base, "/token", {
      grant_type: "authorization_code",
      code,
      code_verifier: verifier,
      redirect_uri: redirectUri,
      client_id: client.client_id,
      client_secret: client.client_secret,
      resource,
    });
    expect(tokenRes.status).toBe(200);
    const tokens = tokenRes.body as { access_token: string; refresh_token: string };

    const mcp = await connectClient(resource, tokens.access_token);
    const result = await mcp.callTool({ name: "echo", arguments: { note: "hello" } });
    expect(result.isError).toBeFalsy();
    await mcp.close();

    const refreshed = await postForm(base, "/token", {
      grant_type: "refresh_token",
      refresh_token: tokens.refresh_token,
      client_id: client.client_id,
      client_secret: client.client_secret,
    });
    expect(refreshed.status).toBe(200);
    const again = refreshed.body as { access_token: string; refresh_token: string };

    // Failures are where secrets tend to leak: wrong code, reused refresh token, bad bearer.
    const wrongCode = `tgc_${randomBytes(32).toString("base64url")}`;
    expect((await postForm(base, "/token", { grant_type: "authorization_code", code: wrongCode, code_verifier: verifier, redirect_uri: redirectUri, client_id: client.client_id, client_secret: client.client_secret })).status).toBe(400);
    expect((await postForm(base, "/token", { grant_type: "refresh_token", refresh_token: tokens.refresh_token, client_id: client.client_id, client_secret: "wrong-secret-value" })).status).toBe(401);
    const badBearer = `tga_${randomBytes(32).toString("base64url")}`;
    const unauth = await fetch(resource, {
      method: "POST",
      headers: { Authorization: `Bearer ${badBearer}`, "Content-Type": "application/json", Accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(unauth.status).toBe(401);
    await fetch(`${base}/authorize?response_type=code&client_id=${client.client_id}&code=${wrongCode}&state=private-state-1`);
    expect((await postForm(base, "/revoke", { token: again.refresh_token, client_id: client.client_id, client_secret: client.client_secret })).status).toBe(200);

    // No trusted proxies configured: X-Forwarded-For and X-Request-Id from the client are ignored.
    const spoofed = await fetch(`${base}/healthz`, { headers: { "X-Forwarded-For": "198.51.100.1", "X-Request-Id": "client-chosen-id" } });
    const spoofedId = spoofed.headers.get("x-request-id");
    expect(spoofedId).not.toBe("client-chosen-id");
    await new Promise((r) => setTimeout(r, 20));

    const text = ctx.logs.join("\n");
    const lines = parseLines(text);
    expect(lines.find((l) => l.requestId === spoofedId && l.msg === "request")).toMatchObject({ client: "127.0.0.1", path: "/healthz" });
    expectNoSecrets(text, {
      code,
      verifier,
      wrongCode,
      clientSecret: client.client_secret,
      accessToken: tokens.access_token,
      refreshToken: tokens.refresh_token,
      accessToken2: again.access_token,
      refreshToken2: again.refresh_token,
      badBearer,
      sessionSecret: ctx.secrets.sessionSecret,
      dataKey: ctx.secrets.dataKey.toString("base64url"),
      state: "private-state-1",
    });
    const requests = lines.filter((l) => l.msg === "request");
    expect(requests.length).toBeGreaterThanOrEqual(8);
    for (const line of requests) expect(line.requestId).toMatch(/^[\w-]{8,}$/);
    // A handler's own lines carry the id of the request they were written for.
    const pathOf = new Map(requests.map((l) => [l.requestId, l.path]));
    const toolCalls = lines.filter((l) => l.msg === "tool call");
    expect(toolCalls).toHaveLength(1);
    expect(pathOf.get(toolCalls[0]!.requestId)).toBe(`/mcp/${seeded.serverId}`);
    const oauthErrors = lines.filter((l) => l.msg === "oauth error");
    expect(oauthErrors.map((l) => pathOf.get(l.requestId))).toEqual(expect.arrayContaining(["/token", `/mcp/${seeded.serverId}`]));
    for (const l of oauthErrors) expect(pathOf.has(l.requestId)).toBe(true);
  });
});

describe("the served app's output (pages, CLI)", () => {
  let child: ChildProcess;
  let output: () => string = () => "";
  let dataDir: string;
  let base: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    if (!fs.existsSync(path.join(ROOT, "build/index.js"))) throw new Error("run `npm run build` first");
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-logs-"));
    const served = await serveBuiltApp(
      (port) => ({
        PATH: process.env.PATH,
        NODE_ENV: "production",
        PORT: String(port),
        HOST: "127.0.0.1",
        PUBLIC_URL: `http://localhost:${port}`,
        TOOLGATE_DATA_DIR: dataDir,
        TOOLGATE_LOG_LEVEL: "debug",
        TOOLGATE_TRUSTED_PROXIES: "loopback",
      }),
      "/healthz",
    );
    ({ child, env } = served);
    base = env.PUBLIC_URL!;
    output = served.output;
  });
  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const cookiesSeen: string[] = [];
  const csrfSeen: string[] = [];
  /** A tiny browser: keeps cookies, remembers every cookie value and CSRF token it saw. */
  async function browse(jar: Map<string, string>, pathname: string, form?: Record<string, string>) {
    const res = await fetch(base + pathname, {
      method: form ? "POST" : "GET",
      redirect: "manual",
      headers: {
        Cookie: [...jar].map(([k, v]) => `${k}=${v}`).join("; "),
        ...(form ? { "Content-Type": "application/x-www-form-urlencoded" } : {}),
      },
      body: form ? new URLSearchParams(form) : undefined,
    });
    for (const header of res.headers.getSetCookie()) {
      const [pair] = header.split(";");
      const [name, ...rest] = pair!.split("=");
      const value = rest.join("=");
      if (value) {
        jar.set(name!, value);
        cookiesSeen.push(value, decodeURIComponent(value));
      }
    }
    const html = await res.text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
    if (csrf) csrfSeen.push(csrf);
    return { status: res.status, location: res.headers.get("location"), html, csrf };
  }

  const cli = (args: string[], stdin: string) => runCli(args, env, stdin);

  it("first-run setup, failed and good sign-in, CLI user add and backup: no password, cookie, CSRF token or secret logged", async () => {
    const ownerPassword = `owner-pw-${randomBytes(8).toString("hex")}`;
    const memberPassword = `member-pw-${randomBytes(8).toString("hex")}`;
    const jar = new Map<string, string>();
    const setup = await browse(jar, "/setup");
    expect(setup.status).toBe(200);
    const created = await browse(jar, "/setup", { csrf: setup.csrf!, email: "owner@example.test", name: "Owner", password: ownerPassword, confirm: ownerPassword });
    expect(created.status).toBe(302);
    expect((await browse(jar, "/")).status).toBe(200);

    const fresh = new Map<string, string>();
    const signInPage = await browse(fresh, "/sign-in");
    const wrong = await browse(fresh, "/sign-in", { csrf: signInPage.csrf!, email: "owner@example.test", password: `${ownerPassword}-wrong` });
    expect(wrong.status).toBe(401);
    const right = await browse(fresh, "/sign-in", { csrf: signInPage.csrf!, email: "owner@example.test", password: ownerPassword });
    expect(right.status).toBe(302);

    const added = await cli(["user", "add", "--email", "member@example.test", "--password-stdin", "--json"], memberPassword + "\n");
    expect(added.code, added.stderr).toBe(0);
    expect(JSON.parse(added.stdout).email).toBe("member@example.test");
    const backup = await cli(["backup", "--to", path.join(dataDir, "b.db")], "");
    expect(backup.code, backup.stderr).toBe(0);

    const secrets = JSON.parse(fs.readFileSync(path.join(dataDir, "secrets.json"), "utf8")) as Record<string, string>;
    const all = output() + added.stderr + backup.stderr;
    parseLines(all);
    const named: Record<string, string> = {
      ownerPassword,
      memberPassword,
      wrongPassword: `${ownerPassword}-wrong`,
      sessionSecret: secrets.sessionSecret!,
      dataKey: secrets.dataKey!,
    };
    cookiesSeen.forEach((v, i) => (named[`cookie${i}`] = v));
    csrfSeen.forEach((v, i) => (named[`csrf${i}`] = v));
    expect(cookiesSeen.length).toBeGreaterThan(0);
    expect(csrfSeen.length).toBeGreaterThan(0);
    expectNoSecrets(all, named);
    // Every line written while a request was handled carries its id.
    const pageLines = parseLines(output()).filter((l) => l.msg === "request");
    expect(pageLines.length).toBeGreaterThan(5);
    for (const l of pageLines) expect(l.requestId).toBeTruthy();
  });

  it("behind a trusted proxy the client address comes from X-Forwarded-For; PUBLIC_URL wins over Host headers", async () => {
    const res = await fetch(`${base}/.well-known/oauth-authorization-server`, {
      headers: { "X-Forwarded-For": "203.0.113.7", "X-Forwarded-Host": "evil.example", "X-Request-Id": "proxy-req-42" },
    });
    expect(res.headers.get("x-request-id")).toBe("proxy-req-42");
    expect((await res.json()).issuer).toBe(base);
    const page = await fetch(`${base}/connections`, { redirect: "manual", headers: { "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https" } });
    expect(page.status).toBe(302);
    expect(page.headers.get("location") ?? "").not.toContain("evil.example");
    await new Promise((r) => setTimeout(r, 50));
    const line = parseLines(output()).find((l) => l.requestId === "proxy-req-42" && l.msg === "request");
    expect(line).toMatchObject({ client: "203.0.113.7", path: "/.well-known/oauth-authorization-server", status: 200 });
  });
});
