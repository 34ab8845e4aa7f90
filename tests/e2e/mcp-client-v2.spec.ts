/**
 * The SDK v2 client (@modelcontextprotocol/client) with `versionNegotiation: { mode: "auto" }`
 * against the built app, given only the MCP URL: it discovers the authorization server, registers,
 * the person approves on the Authorize Application page (JavaScript on and off, one project each),
 * and the client negotiates 2026-07-28 (`server/discover`), lists and calls tools, and refreshes
 * by itself when its access token expires. The 1.x client keeps the 2025 era (mcp-client.spec.ts).
 */
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import type { Page } from "@playwright/test";
import { Client, StreamableHTTPClientTransport, UnauthorizedError, type OAuthClientProvider } from "@modelcontextprotocol/client";
import { startCallback } from "./authorize-data";
import { createUser, expect, PASSWORD, startApp, test, uniqueEmail, type AppUnderTest } from "./fixtures";
import { MemoryProvider } from "./mcp-client-harness";

const MODERN = "2026-07-28";

async function startToolEndpoint() {
  const calls: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      calls.push(Buffer.concat(chunks).toString("utf8"));
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ echoed: JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

async function createServer(app: AppUnderTest, ownerEmail: string, endpointUrl: string, name: string) {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-tools-")), "tools.json");
  fs.writeFileSync(
    file,
    JSON.stringify([
      {
        name: "echo",
        description: "Echoes the text back",
        inputSchema: { type: "object", properties: { text: { type: "string" } }, required: ["text"] },
        endpoint: { url: `${endpointUrl}/echo` },
      },
    ]),
  );
  const res = await app.cli(["server", "create", "--owner", ownerEmail, "--name", name, "--tools", file, "--json"]);
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
  if (res.code !== 0) throw new Error(`server create failed: ${res.stderr}`);
  return JSON.parse(res.stdout.trim().split("\n").at(-1)!) as { id: string; mcpUrl: string };
}

/** The harness's provider, plus the discovery state v2 keeps to bind the callback to its authorization server (SEP-2352). */
class V2Provider extends MemoryProvider {
  discovery?: unknown;
  saveDiscoveryState(state: unknown) {
    this.discovery = state;
  }
  discoveryState() {
    return this.discovery;
  }
}

const newClient = () => new Client({ name: "sdk-v2-e2e", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });

/** Connect (told to authorize), approve in the browser, finishAuth, connect again: the connected client. */
async function authorize(page: Page, mcpUrl: string, email: string) {
  const callback = await startCallback();
  const memory = new V2Provider(callback.url, { clientName: "SDK v2 E2E Client", page });
  // The harness's provider is written against the 1.x interface, which v2 keeps.
  const provider = memory as unknown as OAuthClientProvider;
  await expect(newClient().connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }))).rejects.toBeInstanceOf(UnauthorizedError);
  await memory.opened;
  if (new URL(page.url()).pathname === "/sign-in") {
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
  }
  await expect(page.getByRole("heading", { name: "Authorize Application" })).toBeVisible();
  await expect(page.locator(".consent-client").getByText("SDK v2 E2E Client", { exact: true })).toBeVisible();
  await page.getByRole("button", { name: "Approve" }).click();
  // The callback's parameters as received: the client checks `iss` (RFC 9207) before the code.
  const answer = await callback.received;
  expect(answer.get("iss")).toBe(new URL(mcpUrl).origin);
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
  await transport.finishAuth(answer);
  const client = newClient();
  await client.connect(transport);
  return { client, memory, callback };
}

test.describe.configure({ timeout: 120_000 });

test("the SDK v2 client in auto mode negotiates 2026-07-28 through the consent page, lists and calls tools", async ({ page, app }) => {
  const user = await createUser(app);
  const endpoint = await startToolEndpoint();
  const server = await createServer(app, user.email, endpoint.url, "Modern");
  const { client, callback } = await authorize(page, server.mcpUrl, user.email);
  try {
    expect(client.getNegotiatedProtocolVersion()).toBe(MODERN);
    expect(client.getServerVersion()?.name).toBe("Modern");
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(["echo"]);
    const result = await client.callTool({ name: "echo", arguments: { text: "hello, 2026" } });
    expect(result.isError).toBeFalsy();
    expect(result.content).toEqual([{ type: "text", text: JSON.stringify({ echoed: { text: "hello, 2026" } }) }]);
    expect(endpoint.calls).toEqual([JSON.stringify({ text: "hello, 2026" })]);
  } finally {
    await client.close();
    await callback.close();
    await endpoint.close();
  }
});

test("with a short access-token lifetime the v2 client refreshes by itself and stays on 2026-07-28", async ({ page }) => {
  const app = await startApp({ TOOLGATE_ACCESS_TOKEN_TTL: "2" });
  const endpoint = await startToolEndpoint();
  try {
    await createUser(app, { email: uniqueEmail("owner"), owner: true });
    const user = await createUser(app);
    const server = await createServer(app, user.email, endpoint.url, "Short-lived");
    const { client, callback, memory } = await authorize(page, server.mcpUrl, user.email);
    try {
      expect(client.getNegotiatedProtocolVersion()).toBe(MODERN);
      expect((await client.callTool({ name: "echo", arguments: { text: "first" } })).isError).toBeFalsy();
      const firstToken = memory.saved!.access_token;
      await new Promise((r) => setTimeout(r, 2_500));
      // The old token is expired: the client gets 401, refreshes and retries on its own.
      expect((await client.callTool({ name: "echo", arguments: { text: "second" } })).isError).toBeFalsy();
      expect(memory.saved!.access_token).not.toBe(firstToken);
      expect(endpoint.calls.map((c) => JSON.parse(c).text)).toEqual(["first", "second"]);
    } finally {
      await client.close();
      await callback.close();
    }
  } finally {
    await endpoint.close();
    await app.stop();
  }
});
