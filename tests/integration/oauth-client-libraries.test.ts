/**
 * Interoperability: two OAuth client libraries not written for Toolgate (oauth4webapi and the MCP
 * SDK's client auth helpers) run discovery, registration, code exchange, refresh and revocation
 * against a running server. The browser step (consent) is replaced by writing the code the way
 * Approve does; the end-to-end browser test covers it.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import * as oauth from "oauth4webapi";
import {
  discoverAuthorizationServerMetadata,
  discoverOAuthProtectedResourceMetadata,
  exchangeAuthorization,
  refreshAuthorization,
  registerClient,
} from "@modelcontextprotocol/sdk/client/auth.js";
import type { RunningServer } from "~/http/server.server";
import { verifyAccessToken } from "~/oauth/tokens.server";
import type { TestContext } from "../helpers/context";
import { startServerWithIssuer } from "../helpers/http";
import { issueCode, makeUserAndServer } from "./oauth-fixtures";

let ctx: TestContext;
let server: RunningServer;

beforeEach(async () => {
  ({ ctx, server } = await startServerWithIssuer());
});
afterEach(async () => {
  await server.close(100);
  ctx.cleanup();
});

/** What Approve does, with the challenge the client library computed. */
async function approve(clientId: string, userId: string, serverId: string, redirectUri: string, challenge: string) {
  const issued = await issueCode(ctx, { clientId, userId, serverId, redirectUri });
  await ctx.queryRows("update authorization_codes set code_challenge = ?", challenge);
  return issued.code;
}

describe("oauth4webapi against Toolgate", () => {
  for (const method of ["none", "client_secret_basic", "client_secret_post"] as const) {
    it(`completes discovery → registration → token → refresh → revoke (${method})`, async () => {
      const world = await makeUserAndServer(ctx);
      const issuer = new URL(ctx.config.publicUrl);
      const insecure = { [oauth.allowInsecureRequests]: true };
      const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: "oauth2", ...insecure }));
      expect(as.code_challenge_methods_supported).toEqual(["S256"]);

      const redirectUri = "http://127.0.0.1:51234/callback";
      const registered = await oauth.processDynamicClientRegistrationResponse(
        await oauth.dynamicClientRegistrationRequest(as, { client_name: "oauth4webapi", redirect_uris: [redirectUri], token_endpoint_auth_method: method }, insecure),
      );
      const client: oauth.Client = { client_id: registered.client_id, token_endpoint_auth_method: method };
      const auth =
        method === "none"
          ? oauth.None()
          : method === "client_secret_basic"
            ? oauth.ClientSecretBasic(registered.client_secret as string)
            : oauth.ClientSecretPost(registered.client_secret as string);

      const verifier = oauth.generateRandomCodeVerifier();
      const challenge = await oauth.calculatePKCECodeChallenge(verifier);
      const code = await approve(client.client_id, world.userId, world.serverId, redirectUri, challenge);
      const callback = oauth.validateAuthResponse(as, client, new URL(`${redirectUri}?code=${code}&iss=${encodeURIComponent(issuer.href.replace(/\/$/, ""))}`), oauth.expectNoState);
      const tokens = await oauth.processAuthorizationCodeResponse(
        as,
        client,
        await oauth.authorizationCodeGrantRequest(as, client, auth, callback, redirectUri, verifier, { additionalParameters: { resource: world.resource }, ...insecure }),
      );
      expect(tokens.token_type).toBe("bearer");
      expect(tokens.scope).toBe("mcp:tools");
      expect((await verifyAccessToken(ctx, tokens.access_token))?.serverId).toBe(world.serverId);

      const refreshed = await oauth.processRefreshTokenResponse(
        as,
        client,
        await oauth.refreshTokenGrantRequest(as, client, auth, tokens.refresh_token!, insecure),
      );
      expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);

      await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, auth, refreshed.refresh_token!, insecure));
      expect(await verifyAccessToken(ctx, refreshed.access_token)).toBeNull();
    });
  }
});

describe("MCP SDK client auth helpers against Toolgate", () => {
  it("discovers from the MCP URL, registers, exchanges the code and refreshes", async () => {
    const world = await makeUserAndServer(ctx);
    const prm = await discoverOAuthProtectedResourceMetadata(world.resource);
    expect(prm.resource).toBe(world.resource);
    const authServer = prm.authorization_servers![0]!;
    const metadata = await discoverAuthorizationServerMetadata(authServer);
    expect(metadata?.issuer).toBe(ctx.config.publicUrl);

    const redirectUri = "http://localhost:6274/oauth/callback";
    const info = await registerClient(authServer, {
      metadata,
      clientMetadata: { client_name: "MCP SDK client", redirect_uris: [redirectUri], grant_types: ["authorization_code", "refresh_token"], response_types: ["code"], token_endpoint_auth_method: "none" },
    });
    const verifier = oauth.generateRandomCodeVerifier();
    const code = await approve(info.client_id, world.userId, world.serverId, redirectUri, await oauth.calculatePKCECodeChallenge(verifier));
    const tokens = await exchangeAuthorization(authServer, { metadata, clientInformation: info, authorizationCode: code, codeVerifier: verifier, redirectUri, resource: new URL(world.resource) });
    expect(tokens.token_type).toBe("Bearer");
    const refreshed = await refreshAuthorization(authServer, { metadata, clientInformation: info, refreshToken: tokens.refresh_token!, resource: new URL(world.resource) });
    expect((await verifyAccessToken(ctx, refreshed.access_token))?.serverId).toBe(world.serverId);
  });
});
