/**
 * A standard OAuth client library not written for Toolgate (oauth4webapi) runs the whole flow
 * against the running app: discovery → registration → authorization in Chromium (sign in, consent,
 * Approve) → token → refresh → revoke. Runs with JavaScript on and off (playwright.config.ts).
 */
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import * as oauth from "oauth4webapi";
import { createUser, expect, signIn, test } from "./fixtures";

const insecure = { [oauth.allowInsecureRequests]: true };

/** The client's loopback redirect target (RFC 8252 §7.3). */
async function startRedirectTarget() {
  let resolve!: (url: URL) => void;
  const received = new Promise<URL>((r) => (resolve = r));
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    if (url.pathname === "/callback") resolve(url);
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end("<!doctype html><title>Client</title><h1>You can close this window</h1>");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`,
    received,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

test("oauth4webapi: discovery, registration, consent in the browser, token, refresh, revoke", async ({ page, app }) => {
  const user = await createUser(app);
  const toolsFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-flow-")), "tools.json");
  fs.writeFileSync(toolsFile, JSON.stringify([{ name: "forecast", description: "Weather forecast", inputSchema: { type: "object" }, endpoint: { url: "https://tools.example.test/forecast" } }]));
  const created = await app.cli(["server", "create", "--owner", user.email, "--name", "Weather", "--tools", toolsFile, "--json"]);
  expect(created.code, created.stderr).toBe(0);
  const { mcpUrl } = JSON.parse(created.stdout) as { mcpUrl: string };
  const target = await startRedirectTarget();

  try {
    // Discovery: the MCP URL's protected resource metadata names the issuer.
    const resourceMetadataUrl = mcpUrl.replace(/\/mcp\//, "/.well-known/oauth-protected-resource/mcp/");
    const prm = (await (await fetch(resourceMetadataUrl)).json()) as { resource: string; authorization_servers: string[] };
    expect(prm.resource).toBe(mcpUrl);
    const issuer = new URL(prm.authorization_servers[0]!);
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: "oauth2", ...insecure }));

    // Registration (RFC 7591), a public native client.
    const registered = await oauth.processDynamicClientRegistrationResponse(
      await oauth.dynamicClientRegistrationRequest(
        as,
        { client_name: "Flow Test Client", redirect_uris: [target.url], token_endpoint_auth_method: "none", application_type: "native" },
        insecure,
      ),
    );
    const client: oauth.Client = { client_id: registered.client_id, token_endpoint_auth_method: "none" };
    const auth = oauth.None();

    // Authorization in the browser.
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const authorizationUrl = new URL(as.authorization_endpoint!);
    authorizationUrl.search = new URLSearchParams({
      response_type: "code",
      client_id: client.client_id,
      redirect_uri: target.url,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: "S256",
      state,
      scope: "mcp:tools",
      resource: mcpUrl,
    }).toString();
    await signIn(page, app, user.email);
    await page.goto(authorizationUrl.href);
    await expect(page.getByRole("heading", { name: "Authorize Application", level: 1 })).toBeVisible();
    await expect(page.getByText("Flow Test Client").first()).toBeVisible();
    await page.getByRole("button", { name: "Approve" }).click();
    const callbackUrl = await target.received;
    await expect(page.getByRole("heading", { name: "You can close this window" })).toBeVisible();

    // RFC 9207: the library checks iss; then the code exchange with PKCE and the resource.
    const params = oauth.validateAuthResponse(as, client, callbackUrl, state);
    const tokens = await oauth.processAuthorizationCodeResponse(
      as,
      client,
      await oauth.authorizationCodeGrantRequest(as, client, auth, params, target.url, verifier, { additionalParameters: { resource: mcpUrl }, ...insecure }),
    );
    expect(tokens.access_token).toMatch(/^tga_/);
    expect(tokens.refresh_token).toMatch(/^tgr_/);
    expect(tokens.scope).toBe("mcp:tools");

    // The MCP endpoint accepts the token for this server.
    const mcp = (token: string) =>
      fetch(mcpUrl, {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", Accept: "application/json, text/event-stream" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "flow", version: "1" } } }),
      });
    expect((await mcp(tokens.access_token)).status).toBe(200);

    // Refresh rotates.
    const refreshed = await oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, auth, tokens.refresh_token!, insecure));
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);

    // Revoking the refresh token ends its family: the access token stops working, refresh fails.
    await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, auth, refreshed.refresh_token!, insecure));
    expect((await mcp(refreshed.access_token)).status).toBe(401);
    const afterRevoke = await oauth
      .processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, auth, refreshed.refresh_token!, insecure))
      .catch((error: unknown) => error);
    expect(afterRevoke).toBeInstanceOf(oauth.ResponseBodyError);
    expect((afterRevoke as oauth.ResponseBodyError).error).toBe("invalid_grant");
  } finally {
    await target.close();
    fs.rmSync(path.dirname(toolsFile), { recursive: true, force: true });
  }
});
