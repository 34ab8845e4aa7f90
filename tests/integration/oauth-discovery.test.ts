/** RFC 8414 and RFC 9728 discovery documents. */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { RunningServer } from "~/http/server.server";
import { mcpResourceUrl, protectedResourceMetadataUrl } from "~/oauth/metadata.server";
import { createTestContext, type TestContext } from "../helpers/context";
import { startProtocolServer } from "../helpers/http";
import { makeUserAndServer } from "./oauth-fixtures";

let ctx: TestContext;
let server: RunningServer;

beforeEach(async () => {
  ctx = createTestContext({ PUBLIC_URL: "https://toolgate.example.test" });
  server = await startProtocolServer(ctx);
});
afterEach(async () => {
  await server.close(100);
  ctx.cleanup();
});

describe("RFC 8414 §3 authorization server metadata", () => {
  it("publishes the issuer, endpoints and capabilities", async () => {
    const res = await fetch(server.url + "/.well-known/oauth-authorization-server");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.headers.get("cache-control")).toBe("public, max-age=300");
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(await res.json()).toEqual({
      issuer: "https://toolgate.example.test",
      authorization_endpoint: "https://toolgate.example.test/authorize",
      token_endpoint: "https://toolgate.example.test/token",
      registration_endpoint: "https://toolgate.example.test/register",
      revocation_endpoint: "https://toolgate.example.test/revoke",
      scopes_supported: ["mcp:tools"],
      response_types_supported: ["code"],
      response_modes_supported: ["query"],
      grant_types_supported: ["authorization_code", "refresh_token", "client_credentials"],
      code_challenge_methods_supported: ["S256"],
      token_endpoint_auth_methods_supported: ["none", "client_secret_basic", "client_secret_post", "private_key_jwt"],
      token_endpoint_auth_signing_alg_values_supported: ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"],
      revocation_endpoint_auth_methods_supported: ["none", "client_secret_basic", "client_secret_post", "private_key_jwt"],
      revocation_endpoint_auth_signing_alg_values_supported: ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"],
      dpop_signing_alg_values_supported: ["ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"],
      client_id_metadata_document_supported: true,
      authorization_response_iss_parameter_supported: true,
    });
  });

  it("answers CORS preflights", async () => {
    const res = await fetch(server.url + "/.well-known/oauth-authorization-server", {
      method: "OPTIONS",
      headers: { Origin: "https://inspector.example", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "mcp-protocol-version" },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("access-control-allow-methods")).toBe("GET, OPTIONS");
    expect(res.headers.get("access-control-allow-headers")).toContain("MCP-Protocol-Version");
  });

  it("is not an OpenID provider", async () => {
    const res = await fetch(server.url + "/.well-known/openid-configuration");
    expect(res.status).toBe(404);
  });
});

describe("RFC 9728 §3 protected resource metadata", () => {
  it("describes one MCP server at the path-suffixed well-known URL", async () => {
    const { serverId } = await makeUserAndServer(ctx, "Weather <b>tools</b>");
    const url = protectedResourceMetadataUrl(ctx, serverId);
    expect(url).toBe(`https://toolgate.example.test/.well-known/oauth-protected-resource/mcp/${serverId}`);
    const res = await fetch(server.url + new URL(url).pathname);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("public, max-age=300");
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    const body = await res.json();
    expect(body).toEqual({
      resource: `https://toolgate.example.test/mcp/${serverId}`,
      authorization_servers: ["https://toolgate.example.test"],
      scopes_supported: ["mcp:tools"],
      bearer_methods_supported: ["header"],
      resource_name: "Weather <b>tools</b>",
      dpop_signing_alg_values_supported: ["ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"],
    });
    // RFC 9728 §3.3: the resource must equal the URL the metadata URL was built from.
    expect(body.resource).toBe(mcpResourceUrl(ctx, serverId));
  });

  it("answers 404 JSON for an unknown server id", async () => {
    const res = await fetch(server.url + "/.well-known/oauth-protected-resource/mcp/does-not-exist");
    expect(res.status).toBe(404);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await res.json()).toEqual({ error: "not_found", error_description: "No MCP server has this id" });
  });

  it("publishes origin-wide metadata at the path-less URL", async () => {
    const res = await fetch(server.url + "/.well-known/oauth-protected-resource");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      resource: "https://toolgate.example.test",
      authorization_servers: ["https://toolgate.example.test"],
      scopes_supported: ["mcp:tools"],
      bearer_methods_supported: ["header"],
      resource_name: "Toolgate",
      dpop_signing_alg_values_supported: ["ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"],
    });
  });

  it("refuses methods other than GET", async () => {
    const res = await fetch(server.url + "/.well-known/oauth-protected-resource", { method: "POST" });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET, OPTIONS");
  });
});
