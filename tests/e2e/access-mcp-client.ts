/**
 * Helpers for access tests that drive the real MCP SDK client: a tool endpoint on 127.0.0.1, a
 * server seeded with a signing secret the app can decrypt, an in-memory OAuthClientProvider, and
 * the browser half of the authorization.
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
import type { Page } from "@playwright/test";
import Database from "better-sqlite3";
import { encryptText } from "../../app/utils/crypto.server";
import type { startCallback } from "./authorize-data";
import { expect } from "./fixtures";

/** A tool endpoint on 127.0.0.1 that answers every call with the tool's name. */
export async function startToolEndpoint() {
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
export function seedServer(dataDir: string, ownerId: string, endpoint: string, tools: string[]) {
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
export class MemoryProvider implements OAuthClientProvider {
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
export async function authorizeInBrowser(
  page: Page,
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
