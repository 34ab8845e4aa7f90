/**
 * The MCP SDK client harness shared by the end-to-end specs: a tool endpoint on 127.0.0.1, a server
 * seeded with a signing secret the app can decrypt, an in-memory OAuthClientProvider (optionally
 * handing the authorization URL to Chromium, as a desktop client opens the system browser), and the
 * client's two halves of the authorization around the browser's part.
 */
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { UnauthorizedError, type OAuthClientProvider } from "@modelcontextprotocol/sdk/client/auth.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from "@modelcontextprotocol/sdk/shared/auth.js";
import type { Page } from "@playwright/test";
import { insertServerRows, withAppDb } from "../helpers/app-db";
import { encryptText } from "../../app/utils/crypto.server";
import type { Callback } from "./authorize-data";
import { expect } from "./fixtures";

/** A tool endpoint on 127.0.0.1 that answers every call with its path; /slow answers after 800 ms. Counts calls in flight. */
export async function startToolEndpoint() {
  let inFlight = 0;
  const calls: string[] = [];
  const server = http.createServer((req, res) => {
    calls.push(req.url ?? "");
    inFlight++;
    req.resume();
    req.on("end", () => {
      setTimeout(
        () => {
          inFlight--;
          res.writeHead(200, { "Content-Type": "application/json" });
          res.end(JSON.stringify({ answer: `called ${req.url}` }));
        },
        req.url === "/slow" ? 800 : 0,
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    inFlight: () => inFlight,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A server with the given tools, with a signing secret the app can decrypt (sealed with the data-dir key). */
export async function seedServer(dataDir: string, ownerId: string, endpoint: string, tools: string[]): Promise<string> {
  const secrets = JSON.parse(fs.readFileSync(path.join(dataDir, "secrets.json"), "utf8")) as { dataKey: string };
  const key = Buffer.from(secrets.dataKey, "base64url");
  const serverId = randomBytes(16).toString("base64url");
  const signingSecretEnc = encryptText(key, randomBytes(32).toString("base64url"));
  const rows = tools.map((name) => ({ name, description: `The ${name} tool`, endpointUrl: `${endpoint}/${name}` }));
  await withAppDb(dataDir, (db) => insertServerRows(db, { id: serverId, ownerId, name: "Weather", signingSecretEnc, at: Date.now() }, rows));
  return serverId;
}

/**
 * The client side of the OAuth flow, kept in memory like a desktop client would keep it on disk.
 * Given a page, `redirectToAuthorization` sends it to the URL, like a real client opening the system
 * browser; without one it only records the URL for the test to open.
 */
export class MemoryProvider implements OAuthClientProvider {
  info?: OAuthClientInformationMixed;
  saved?: OAuthTokens;
  /** Every access token saved, in order (a refresh adds one). */
  tokenHistory: string[] = [];
  verifier = "";
  authorizationUrl?: URL;
  /** The navigation started by the last hand-off to the browser. */
  opened?: Promise<unknown>;
  /** Whether redirectToAuthorization opens the page (turned off once a test only checks refusal). */
  handOff: boolean;
  readonly clientName: string;
  private readonly page?: Page;
  constructor(
    /** Where the authorization answer goes; a test may point it at a new callback server before re-authorizing. */
    public callbackUrl: string,
    options: { clientName?: string; page?: Page } = {},
  ) {
    this.clientName = options.clientName ?? "Consent E2E Client";
    this.page = options.page;
    this.handOff = options.page !== undefined;
  }
  get redirectUrl() {
    return this.callbackUrl;
  }
  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: this.clientName,
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
    this.tokenHistory.push(tokens.access_token);
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
    if (this.handOff && this.page) this.opened = this.page.goto(url.toString());
  }
  saveCodeVerifier(v: string) {
    this.verifier = v;
  }
  codeVerifier() {
    return this.verifier;
  }
  invalidateCredentials(scope: "all" | "client" | "tokens" | "verifier") {
    if (scope === "all" || scope === "tokens") this.saved = undefined;
    if (scope === "all" || scope === "client") this.info = undefined;
  }
}

/**
 * The client's first half: it connects without a token and is told to authorize; on the way the SDK
 * discovers the authorization server, registers and hands the authorization URL to the provider.
 */
export async function expectAuthorizationRequired(provider: MemoryProvider, mcpUrl: URL | string, clientName = "consent-e2e"): Promise<void> {
  const probe = new Client({ name: clientName, version: "1.0.0" });
  await expect(probe.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }))).rejects.toBeInstanceOf(UnauthorizedError);
}

/** The client's second half: it exchanges the code from its callback (finishAuth) and connects. */
export async function finishAuthorization(provider: MemoryProvider, mcpUrl: URL | string, code: string, clientName = "consent-e2e"): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
  await transport.finishAuth(code);
  const client = new Client({ name: clientName, version: "1.0.0" });
  await client.connect(transport);
  return client;
}

/** Runs the SDK's authorization: the client is refused, the person (signed in) approves in the browser, the client finishes. */
export async function authorizeInBrowser(page: Page, provider: MemoryProvider, mcpUrl: URL, callback: Callback): Promise<Client> {
  await expectAuthorizationRequired(provider, mcpUrl);
  await page.goto(provider.authorizationUrl!.toString());
  await page.getByRole("button", { name: "Approve" }).click();
  const code = (await callback.received).get("code");
  // The callback server can see the request before the browser's navigation to it has finished;
  // wait for it, or the test's next page.goto races the redirect.
  await page.waitForURL((u) => u.pathname === "/callback" && u.searchParams.has("code"));
  return finishAuthorization(provider, mcpUrl, code!);
}
