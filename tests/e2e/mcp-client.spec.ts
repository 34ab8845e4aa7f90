/**
 * The unmodified MCP SDK client against the built app, given only the MCP URL: discovery,
 * registration, the Authorize Application page in Chromium (JavaScript on and off, one project
 * each), the code on a loopback callback, token, tools/list, tools/call to a real tool endpoint,
 * refresh by itself, revocation, cross-server refusal, Deny.
 */
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import type { Page } from "@playwright/test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { callbackInBrowser, startCallback, type Callback } from "./authorize-data";
import { createUser, expect, PASSWORD, startApp, test, uniqueEmail, type AppUnderTest } from "./fixtures";
import { expectAuthorizationRequired, finishAuthorization, MemoryProvider } from "./mcp-client-harness";

/** A tool endpoint on 127.0.0.1: /echo answers with the arguments, /fail answers 500. */
async function startToolEndpoint() {
  const calls: { path: string; body: string }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      calls.push({ path: req.url ?? "", body });
      if (req.url === "/fail") res.writeHead(500, { "Content-Type": "text/plain" }).end("backend down");
      else res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ echoed: JSON.parse(body || "{}") }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const echoSchema = {
  type: "object",
  properties: { text: { type: "string", description: "What to echo" } },
  required: ["text"],
};

/** Creates an MCP server with the echo and broken tools through the CLI, as an operator would. */
async function createServerWithTools(app: AppUnderTest, ownerEmail: string, endpointUrl: string, name: string) {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-tools-")), "tools.json");
  fs.writeFileSync(
    file,
    JSON.stringify([
      { name: "echo", description: "Echoes the text back", inputSchema: echoSchema, endpoint: { url: `${endpointUrl}/echo` } },
      { name: "broken", description: "A tool whose backend is down", inputSchema: { type: "object" }, endpoint: { url: `${endpointUrl}/fail` } },
    ]),
  );
  const res = await app.cli(["server", "create", "--owner", ownerEmail, "--name", name, "--tools", file, "--json"]);
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
  if (res.code !== 0) throw new Error(`server create failed: ${res.stderr}`);
  // The answer is the last line (log lines may precede it on stdout).
  return JSON.parse(res.stdout.trim().split("\n").at(-1)!) as { id: string; mcpUrl: string };
}

/** Signs in on the page the browser was sent to (it comes back to the same authorization screen). */
async function signInIfAsked(page: Page, email: string) {
  if (new URL(page.url()).pathname === "/sign-in") {
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
  }
  await expect(page.getByRole("heading", { name: "Authorize Application" })).toBeVisible();
}

/**
 * The whole dance for one client: connect (told to authorize), the browser approves or denies,
 * the callback receives the answer, finishAuth, connect. Returns the connected client (approve).
 */
async function authorize(page: Page, mcpUrl: string, email: string, options: { deny?: boolean; provider?: MemoryProvider; callback?: Callback } = {}) {
  const callback = options.callback ?? (await startCallback());
  // Like a desktop client, redirectToAuthorization hands the URL to the browser.
  const provider = options.provider ?? new MemoryProvider(callback.url, { clientName: "SDK E2E Client", page });
  provider.callbackUrl = callback.url;
  provider.handOff = true;
  await expectAuthorizationRequired(provider, mcpUrl, "sdk-e2e");
  await provider.opened;
  await signInIfAsked(page, email);
  await expect(page.locator(".consent-client").getByText("SDK E2E Client", { exact: true })).toBeVisible();
  await expect(page.getByText("mcp:tools", { exact: true })).toBeVisible();
  await page.getByRole("button", { name: options.deny ? "Deny" : "Approve" }).click();
  const answer = await callbackInBrowser(page, callback);
  if (options.deny) return { answer, provider, callback, client: null };
  const client = await finishAuthorization(provider, mcpUrl, answer.get("code")!, "sdk-e2e");
  return { answer, provider, callback, client };
}

// Each test runs the whole browser flow (and some twice) on a shared 2-core machine.
test.describe.configure({ timeout: 120_000 });

test.describe("the MCP SDK client, given only the MCP URL", () => {
  test("authorizes in the browser, lists and calls tools; a failing tool is an error result", async ({ page, app }) => {
    const user = await createUser(app);
    const endpoint = await startToolEndpoint();
    const server = await createServerWithTools(app, user.email, endpoint.url, "Notes");
    expect(server.mcpUrl).toBe(`${app.url}/mcp/${server.id}`);
    const { client, callback, answer } = await authorize(page, server.mcpUrl, user.email);
    try {
      expect(answer.get("code")).toMatch(/^tgc_/);
      expect(client!.getServerVersion()?.name).toBe("Notes");
      const { tools } = await client!.listTools();
      expect(tools).toEqual([
        { name: "broken", description: "A tool whose backend is down", inputSchema: { type: "object" } },
        { name: "echo", description: "Echoes the text back", inputSchema: echoSchema },
      ]);
      const result = await client!.callTool({ name: "echo", arguments: { text: "hello through Toolgate" } });
      expect(result.isError).toBeFalsy();
      expect(result.content).toEqual([{ type: "text", text: JSON.stringify({ echoed: { text: "hello through Toolgate" } }) }]);
      expect(endpoint.calls).toEqual([{ path: "/echo", body: JSON.stringify({ text: "hello through Toolgate" }) }]);

      const failed = await client!.callTool({ name: "broken", arguments: {} });
      expect(failed.isError).toBe(true);
      expect(JSON.stringify(failed.content)).toContain("HTTP 500");
      // The endpoint keeps serving.
      expect((await client!.callTool({ name: "echo", arguments: { text: "again" } })).isError).toBeFalsy();
    } finally {
      await client?.close();
      await callback.close();
      await endpoint.close();
    }
  });

  test("a token for server A is refused by server B", async ({ page, app }) => {
    const user = await createUser(app);
    const endpoint = await startToolEndpoint();
    const serverA = await createServerWithTools(app, user.email, endpoint.url, "Server A");
    const serverB = await createServerWithTools(app, user.email, endpoint.url, "Server B");
    const { client, callback, provider } = await authorize(page, serverA.mcpUrl, user.email);
    try {
      const tokenForA = provider.saved!.access_token;
      const onB = new Client({ name: "sdk-e2e", version: "1.0.0" });
      const transportB = new StreamableHTTPClientTransport(new URL(serverB.mcpUrl), {
        requestInit: { headers: { Authorization: `Bearer ${tokenForA}` } },
      });
      await expect(onB.connect(transportB)).rejects.toMatchObject({ code: 401 });
      const raw = await fetch(serverB.mcpUrl, {
        method: "POST",
        headers: { Authorization: `Bearer ${tokenForA}`, "Content-Type": "application/json", Accept: "application/json, text/event-stream" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
      });
      expect(raw.status).toBe(401);
      expect(raw.headers.get("www-authenticate")).toContain('error="invalid_token"');
      expect(raw.headers.get("www-authenticate")).toContain(`resource_metadata="${app.url}/.well-known/oauth-protected-resource/mcp/${serverB.id}"`);
      // Still fine on A.
      expect((await client!.listTools()).tools.map((t) => t.name)).toEqual(["broken", "echo"]);
    } finally {
      await client?.close();
      await callback.close();
      await endpoint.close();
    }
  });

  test("after revocation the client gets 401 and cannot call tools until it re-authorizes", async ({ page, app }) => {
    const user = await createUser(app);
    const endpoint = await startToolEndpoint();
    const server = await createServerWithTools(app, user.email, endpoint.url, "Revocable");
    const { client, callback, provider } = await authorize(page, server.mcpUrl, user.email);
    try {
      expect((await client!.callTool({ name: "echo", arguments: { text: "before" } })).isError).toBeFalsy();
      const revoked = await fetch(`${app.url}/revoke`, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token: provider.saved!.refresh_token!, client_id: provider.info!.client_id }),
      });
      expect(revoked.status).toBe(200);

      const before = endpoint.calls.length;
      // From here the SDK will ask to authorize again; this part only checks that it is refused.
      provider.handOff = false;
      // The old access token is refused at once; the SDK's refresh is refused too, so it asks to
      // authorize again and the call never reaches the tool.
      const raw = await fetch(server.mcpUrl, {
        method: "POST",
        headers: { Authorization: `Bearer ${provider.saved!.access_token}`, "Content-Type": "application/json", Accept: "application/json, text/event-stream" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
      });
      expect(raw.status).toBe(401);
      await expect(client!.callTool({ name: "echo", arguments: { text: "after" } })).rejects.toThrow();
      expect(endpoint.calls.length).toBe(before);
      await client!.close();

      // Re-authorizing brings access back.
      const again = await authorize(page, server.mcpUrl, user.email, { provider, callback: await startCallback() });
      try {
        expect((await again.client!.callTool({ name: "echo", arguments: { text: "back" } })).isError).toBeFalsy();
      } finally {
        await again.client?.close();
        await again.callback.close();
      }
    } finally {
      await callback.close();
      await endpoint.close();
    }
  });

  test("after Deny the client has no access", async ({ page, app }) => {
    const user = await createUser(app);
    const endpoint = await startToolEndpoint();
    const server = await createServerWithTools(app, user.email, endpoint.url, "Denied");
    const { answer, provider, callback } = await authorize(page, server.mcpUrl, user.email, { deny: true });
    try {
      expect(answer.get("error")).toBe("access_denied");
      expect(answer.get("code")).toBeNull();
      expect(provider.saved).toBeUndefined();
      provider.handOff = false;
      await expectAuthorizationRequired(provider, server.mcpUrl, "sdk-e2e");
      expect(endpoint.calls).toEqual([]);
    } finally {
      await callback.close();
      await endpoint.close();
    }
  });
});

test.describe("with a short access-token lifetime", () => {
  test("the client refreshes by itself and keeps working", async ({ page }) => {
    const app = await startApp({ TOOLGATE_ACCESS_TOKEN_TTL: "2" });
    const endpoint = await startToolEndpoint();
    try {
      await createUser(app, { email: uniqueEmail("owner"), owner: true });
      const user = await createUser(app);
      const server = await createServerWithTools(app, user.email, endpoint.url, "Short-lived");
      const { client, callback, provider } = await authorize(page, server.mcpUrl, user.email);
      try {
        expect(provider.saved!.expires_in).toBe(2);
        expect((await client!.callTool({ name: "echo", arguments: { text: "first" } })).isError).toBeFalsy();
        const firstToken = provider.saved!.access_token;
        await new Promise((r) => setTimeout(r, 2_500));
        // The old token is expired now; the SDK gets 401, refreshes and retries on its own.
        expect((await client!.callTool({ name: "echo", arguments: { text: "second" } })).isError).toBeFalsy();
        expect(provider.saved!.access_token).not.toBe(firstToken);
        expect(provider.tokenHistory.length).toBeGreaterThanOrEqual(2);
        expect(endpoint.calls.map((c) => JSON.parse(c.body).text)).toEqual(["first", "second"]);
      } finally {
        await client?.close();
        await callback.close();
      }
    } finally {
      await endpoint.close();
      await app.stop();
    }
  });
});
