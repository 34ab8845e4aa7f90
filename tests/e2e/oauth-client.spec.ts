/**
 * The proof the flow works: a third-party OAuth client library (oauth4webapi, used only here) runs
 * the whole MCP authorization flow against the running app, with consent in Chromium (JavaScript on
 * and off: playwright.config.ts runs this spec in both projects).
 *
 * MCP 401 → RFC 9728 resource metadata → RFC 8414 discovery → RFC 7591 registration →
 * /authorize (sign in, consent, Approve) → RFC 9207 iss check → code exchange with PKCE and RFC 8707
 * resource → the MCP SDK client sees exactly the granted tools → refresh (rotation) → RFC 7009
 * revocation.
 */
import { Client as McpClient } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import * as oauth from "oauth4webapi";
import { mcpStatus } from "./access-data";
import { grantOf, seedServer, startCallback } from "./authorize-data";
import { createUser, expect, PASSWORD, test } from "./fixtures";

const insecure = { [oauth.allowInsecureRequests]: true } as const;

test("oauth4webapi completes discovery, registration, consent, token, refresh and revoke", async ({ page, app }) => {
  const user = await createUser(app);
  const server = await seedServer(app.dataDir, user.id, "Weather", ["forecast", "alerts", "radar"]);
  const callback = await startCallback();
  try {
    // 1. The MCP endpoint asks for authorization and names its resource metadata (RFC 9728 §5.1).
    const mcpUrl = `${app.url}/mcp/${server.id}`;
    const unauthorized = await fetch(mcpUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
    });
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get("www-authenticate")).toContain("resource_metadata=");

    const rs = await oauth.processResourceDiscoveryResponse(new URL(mcpUrl), await oauth.resourceDiscoveryRequest(new URL(mcpUrl), insecure));
    expect(rs.resource).toBe(mcpUrl);
    const issuer = new URL(rs.authorization_servers![0]!);

    // 2. RFC 8414 discovery.
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: "oauth2", ...insecure }));
    expect(as.authorization_response_iss_parameter_supported).toBe(true);
    expect(as.code_challenge_methods_supported).toEqual(["S256"]);

    // 3. RFC 7591 registration of a public native client with a loopback redirect.
    const registered = await oauth.processDynamicClientRegistrationResponse(
      await oauth.dynamicClientRegistrationRequest(
        as,
        { client_name: "Library Client", redirect_uris: [callback.url], token_endpoint_auth_method: "none" },
        insecure,
      ),
    );
    const client: oauth.Client = { client_id: registered.client_id, token_endpoint_auth_method: "none" };

    // 4. Authorization in the browser.
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const authorizationUrl = new URL(as.authorization_endpoint!);
    authorizationUrl.search = new URLSearchParams({
      client_id: client.client_id,
      redirect_uri: callback.url,
      response_type: "code",
      scope: "mcp:tools",
      state,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: "S256",
      resource: mcpUrl,
    }).toString();
    await page.goto(authorizationUrl.toString());
    await page.getByLabel("Email").fill(user.email);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByRole("heading", { name: "Authorize Application", level: 1 })).toBeVisible();
    await expect(page.getByText("Library Client", { exact: true })).toBeVisible();
    await page.getByRole("checkbox", { name: /radar/ }).uncheck();
    await page.getByRole("button", { name: "Approve" }).click();
    const received = await callback.received;
    const callbackUrl = new URL(callback.url);
    callbackUrl.search = received.toString();

    // RFC 9207: the library checks iss against the issuer, and state.
    const parameters = oauth.validateAuthResponse(as, client, callbackUrl, state);

    // 5. Code exchange with PKCE and the RFC 8707 resource.
    const tokens = await oauth.processAuthorizationCodeResponse(
      as,
      client,
      await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), parameters, callback.url, verifier, {
        additionalParameters: { resource: mcpUrl },
        ...insecure,
      }),
    );
    expect(tokens.token_type.toLowerCase()).toBe("bearer");
    expect(tokens.access_token).toMatch(/^tga_/);
    expect(tokens.refresh_token).toMatch(/^tgr_/);
    expect((await grantOf(app.dataDir, client.client_id))?.tools).toEqual(["alerts", "forecast"]);
    expect(await mcpStatus(app.url, server.id, tokens.access_token)).toBe(200);

    // The real MCP SDK client, with the token: it sees exactly the two granted tools of three, and a
    // call of the third is refused (per-tool consent).
    const mcp = new McpClient({ name: "e2e", version: "1.0.0" });
    await mcp.connect(
      new StreamableHTTPClientTransport(new URL(mcpUrl), { requestInit: { headers: { Authorization: `Bearer ${tokens.access_token}` } } }),
    );
    try {
      const listed = await mcp.listTools();
      expect(listed.tools.map((t) => t.name)).toEqual(["alerts", "forecast"]);
      // Refused by the grant check, before the tool's endpoint is ever called.
      await expect(mcp.callTool({ name: "radar", arguments: {} })).rejects.toThrow(/was not approved for this application/);
    } finally {
      await mcp.close();
    }

    // 6. Refresh: a new pair; the new access token works.
    const refreshed = await oauth.processRefreshTokenResponse(
      as,
      client,
      await oauth.refreshTokenGrantRequest(as, client, oauth.None(), tokens.refresh_token!, insecure),
    );
    expect(refreshed.access_token).not.toBe(tokens.access_token);
    expect(refreshed.refresh_token).toBeTruthy();
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    expect(await mcpStatus(app.url, server.id, refreshed.access_token)).toBe(200);

    // 7. RFC 7009 revocation of the access token, then of the refresh token.
    await oauth.processRevocationResponse(
      await oauth.revocationRequest(as, client, oauth.None(), refreshed.access_token, insecure),
    );
    expect(await mcpStatus(app.url, server.id, refreshed.access_token)).toBe(401);
    await oauth.processRevocationResponse(
      await oauth.revocationRequest(as, client, oauth.None(), refreshed.refresh_token!, insecure),
    );
    const afterRevoke = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), refreshed.refresh_token!, insecure);
    expect(afterRevoke.status).toBe(400);
    expect(((await afterRevoke.json()) as { error: string }).error).toBe("invalid_grant");

    // 8. The code is single-use (a replay also revokes what it was exchanged for, RFC 6749 §10.5).
    const replay = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), parameters, callback.url, verifier, {
      additionalParameters: { resource: mcpUrl },
      ...insecure,
    });
    expect(replay.status).toBe(400);
    expect(((await replay.json()) as { error: string }).error).toBe("invalid_grant");
  } finally {
    await callback.close();
  }
});
