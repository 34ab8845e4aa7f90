/**
 * Per-tool consent, end to end: the real MCP SDK client discovers the authorization server, registers
 * itself, sends the browser to Authorize Application, where the user unticks one of three tools; the
 * client then sees exactly the two granted tools and is refused the third.
 */
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { UnauthorizedError, type OAuthClientProvider } from "@modelcontextprotocol/sdk/client/auth.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { OAuthClientInformationMixed, OAuthTokens } from "@modelcontextprotocol/sdk/shared/auth.js";
import Database from "better-sqlite3";
import { encryptText } from "../../app/utils/crypto.server";
import { startCallback } from "./authorize-data";
import { createUser, expect, signIn, test } from "./fixtures";

/** A tool endpoint on 127.0.0.1 that answers every call with the tool's name. */
async function startToolEndpoint() {
  const calls: string[] = [];
  const server = http.createServer((req, res) => {
    calls.push(req.url ?? "");
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ answer: `called ${req.url}` }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, calls, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** A server with three tools, with a signing secret the app can decrypt (sealed with the data-dir key). */
function seedServer(dataDir: string, ownerId: string, endpoint: string, tools: string[]) {
  const secrets = JSON.parse(fs.readFileSync(path.join(dataDir, "secrets.json"), "utf8")) as { dataKey: string };
  const key = Buffer.from(secrets.dataKey, "base64url");
  const db = new Database(path.join(dataDir, "toolgate.db"));
  db.pragma("busy_timeout = 5000");
  const serverId = randomBytes(16).toString("base64url");
  const now = Date.now();
  try {
    db.transaction(() => {
      db.prepare(
        "insert into mcp_servers (id, owner_id, name, description, signing_secret_enc, created_at, updated_at) values (?, ?, 'Weather', '', ?, ?, ?)",
      ).run(serverId, ownerId, encryptText(key, randomBytes(32).toString("base64url")), now, now);
      for (const name of tools) {
        db.prepare(
          "insert into tools (id, server_id, name, description, input_schema, endpoint_url, created_at, updated_at) values (?, ?, ?, ?, '{\"type\":\"object\"}', ?, ?, ?)",
        ).run(randomBytes(16).toString("base64url"), serverId, name, `The ${name} tool`, `${endpoint}/${name}`, now, now);
      }
    })();
  } finally {
    db.close();
  }
  return serverId;
}

/** The client side of the OAuth flow, kept in memory like a desktop client would keep it on disk. */
class MemoryProvider implements OAuthClientProvider {
  info?: OAuthClientInformationMixed;
  saved?: OAuthTokens;
  verifier = "";
  authorizationUrl?: URL;
  constructor(private readonly callbackUrl: string) {}
  get redirectUrl() {
    return this.callbackUrl;
  }
  get clientMetadata() {
    return {
      client_name: "Consent E2E Client",
      redirect_uris: [this.callbackUrl],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }
  clientInformation() {
    return this.info;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.info = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(v: string) {
    this.verifier = v;
  }
  codeVerifier() {
    return this.verifier;
  }
}

/** Runs the SDK's authorization: the client is refused, the person approves in the browser, the client finishes. */
async function authorizeInBrowser(
  page: import("@playwright/test").Page,
  provider: MemoryProvider,
  mcpUrl: URL,
  callback: Awaited<ReturnType<typeof startCallback>>,
): Promise<Client> {
  const probe = new Client({ name: "consent-e2e", version: "1.0.0" });
  await expect(probe.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }))).rejects.toBeInstanceOf(UnauthorizedError);
  await page.goto(provider.authorizationUrl!.toString());
  await page.getByRole("button", { name: "Approve" }).click();
  const code = (await callback.received).get("code");
  const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
  await transport.finishAuth(code!);
  const client = new Client({ name: "consent-e2e", version: "1.0.0" });
  await client.connect(transport);
  return client;
}

test("the MCP SDK client granted two of three tools lists exactly those two and is refused the third", async ({ page, app }) => {
  const user = await createUser(app);
  const endpoint = await startToolEndpoint();
  const callback = await startCallback();
  try {
    const serverId = seedServer(app.dataDir, user.id, endpoint.url, ["forecast", "alerts", "radar"]);
    const mcpUrl = new URL(`${app.url}/mcp/${serverId}`);
    const provider = new MemoryProvider(callback.url);

    // 1. The client is told to authorize; the SDK discovers, registers and builds the URL.
    const first = new Client({ name: "consent-e2e", version: "1.0.0" });
    await expect(first.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }))).rejects.toBeInstanceOf(UnauthorizedError);
    expect(provider.authorizationUrl?.pathname).toBe("/authorize");

    // 2. The person signs in, unticks one tool and approves.
    await signIn(page, app, user.email);
    await page.goto(provider.authorizationUrl!.toString());
    await expect(page.getByRole("heading", { name: "Authorize Application" })).toBeVisible();
    for (const name of ["forecast", "alerts", "radar"]) await expect(page.getByRole("checkbox", { name: new RegExp(name) })).toBeChecked();
    await page.getByRole("checkbox", { name: /alerts/ }).uncheck();
    await page.getByRole("button", { name: "Approve" }).click();
    const code = (await callback.received).get("code");
    expect(code).toMatch(/^tgc_/);

    // 3. The client exchanges the code and connects.
    const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
    await transport.finishAuth(code!);
    const client = new Client({ name: "consent-e2e", version: "1.0.0" });
    await client.connect(transport);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(["forecast", "radar"]);

      const granted = await client.callTool({ name: "forecast", arguments: {} });
      expect(granted.isError).toBeFalsy();
      expect(JSON.stringify(granted.content)).toContain("called /forecast");

      await expect(client.callTool({ name: "alerts", arguments: {} })).rejects.toThrow(/not approved/);
      expect(endpoint.calls).toEqual(["/forecast"]);
    } finally {
      await client.close();
    }

    // 4. The connected-applications page shows the subset; the activity page shows the calls.
    await page.goto(`${app.url}/servers/${serverId}/connections`);
    await expect(page.getByRole("list", { name: "Tools granted to Consent E2E Client" }).getByRole("listitem")).toHaveText(["forecast", "radar"]);
    await page.goto(`${app.url}/servers/${serverId}/activity`);
    await expect(page.getByRole("cell", { name: `${user.email} approved Consent E2E Client for forecast, radar` })).toBeVisible();
    await expect(page.getByRole("cell", { name: /^Consent E2E Client called forecast successfully/ })).toBeVisible();
  } finally {
    await callback.close();
    await endpoint.close();
  }
});

test("a second device of the same client keeps the first one working; Revoke access ends both", async ({ page, app }) => {
  const user = await createUser(app);
  const endpoint = await startToolEndpoint();
  const callbackA = await startCallback();
  const callbackB = await startCallback();
  try {
    const serverId = seedServer(app.dataDir, user.id, endpoint.url, ["forecast"]);
    const mcpUrl = new URL(`${app.url}/mcp/${serverId}`);
    await signIn(page, app, user.email);

    const deviceA = new MemoryProvider(callbackA.url);
    const clientA = await authorizeInBrowser(page, deviceA, mcpUrl, callbackA);
    // Device B is the same application (same client id) installed elsewhere, authorizing again.
    const deviceB = new MemoryProvider(callbackB.url);
    deviceB.info = deviceA.info;
    const clientB = await authorizeInBrowser(page, deviceB, mcpUrl, callbackB);
    expect(deviceB.saved!.access_token).not.toBe(deviceA.saved!.access_token);

    expect((await clientA.listTools()).tools.map((t) => t.name)).toEqual(["forecast"]);
    expect((await clientB.listTools()).tools.map((t) => t.name)).toEqual(["forecast"]);
    const refreshA = await fetch(`${app.url}/token`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: deviceA.saved!.refresh_token!, client_id: deviceA.info!.client_id }),
    });
    expect(refreshA.status).toBe(200);
    const rotatedA = (await refreshA.json()) as { access_token: string; refresh_token: string };

    // One connected application, revoked with one click: both devices are cut off.
    await page.goto(`${app.url}/servers/${serverId}/connections`);
    await expect(page.getByRole("heading", { name: "Consent E2E Client" })).toHaveCount(1);
    await page.getByRole("button", { name: "Revoke access for Consent E2E Client" }).click();
    await expect(page.getByRole("status")).toHaveText("Access revoked for Consent E2E Client. Its tokens no longer work.");
    for (const token of [rotatedA.access_token, deviceB.saved!.access_token]) {
      const res = await fetch(mcpUrl, {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", Accept: "application/json, text/event-stream" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
      });
      expect(res.status).toBe(401);
      await res.body?.cancel();
    }
    await clientA.close().catch(() => undefined);
    await clientB.close().catch(() => undefined);
  } finally {
    await callbackA.close();
    await callbackB.close();
    await endpoint.close();
  }
});
