/**
 * Client ID Metadata Documents that name public keys (token_endpoint_auth_method private_key_jwt):
 * such a client authenticates with RFC 7523 assertions, which makes it a confidential client (the
 * kind that may redeem enterprise ID-JAGs). The documents are served by a real local server.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { authenticateClient, resolveClient } from "~/oauth/clients.server";
import { createMetadataDocumentFetcher } from "~/oauth/metadata-document-fetch.server";
import { createTestContext, type TestContext } from "../helpers/context";

let ctx: TestContext;
let server: http.Server;
let documents: Record<string, unknown> = {};
let fetcher: Awaited<ReturnType<typeof createMetadataDocumentFetcher>>;

beforeEach(async () => {
  ctx = createTestContext();
  ctx.now = () => Date.now();
  documents = {};
  server = http.createServer((req, res) => {
    const doc = documents[req.url ?? ""];
    if (!doc) return res.writeHead(404).end();
    res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(doc));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  // The production rules, reaching this loopback server (tests only: URLs stay https).
  fetcher = createMetadataDocumentFetcher({
    resolve: async () => [{ address: "127.0.0.1", family: 4 }],
    isAllowedAddress: (ip) => ip === "127.0.0.1",
    plainHttpPort: (server.address() as AddressInfo).port,
  });
});
afterEach(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  ctx.cleanup();
});

const CLIENT = "https://agent.corp.example/client.json";

async function assertionFor(key: CryptoKey, claims: Record<string, unknown> = {}) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: CLIENT, sub: CLIENT, aud: ctx.config.publicUrl, exp: now + 60, jti: crypto.randomUUID(), ...claims })
    .setProtectedHeader({ alg: "ES256", kid: "a" })
    .sign(key);
}

describe("metadata-document clients with private_key_jwt", () => {
  it("authenticate with an assertion signed by a key of the document's jwks, and not otherwise", async () => {
    const { publicKey, privateKey } = await generateKeyPair("ES256");
    const stranger = await generateKeyPair("ES256");
    documents["/client.json"] = {
      client_id: CLIENT,
      client_name: "Corp agent",
      redirect_uris: ["https://agent.corp.example/cb"],
      token_endpoint_auth_method: "private_key_jwt",
      jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: "a" }] },
    };
    const client = await resolveClient(ctx, CLIENT, fetcher);
    expect(client).toMatchObject({ kind: "metadata_document", tokenEndpointAuthMethod: "private_key_jwt" });
    await expect(
      authenticateClient(ctx, { clientId: CLIENT, method: "private_key_jwt", secret: null, assertion: await assertionFor(privateKey) }, fetcher),
    ).resolves.toMatchObject({ id: CLIENT });
    await expect(
      authenticateClient(ctx, { clientId: CLIENT, method: "private_key_jwt", secret: null, assertion: await assertionFor(stranger.privateKey) }, fetcher),
    ).rejects.toMatchObject({ code: "invalid_client", description: "Client authentication failed: the client assertion's signature does not verify" });
    // Without an assertion (method none) it is refused: it registered private_key_jwt.
    await expect(authenticateClient(ctx, { clientId: CLIENT, method: "none", secret: null }, fetcher)).rejects.toMatchObject({ code: "invalid_client" });
  });

  it("refuses a document that claims private_key_jwt without public keys, or with a private one", async () => {
    documents["/client.json"] = { client_id: CLIENT, client_name: "x", redirect_uris: ["https://a.example/cb"], token_endpoint_auth_method: "private_key_jwt" };
    expect(await resolveClient(ctx, CLIENT, fetcher)).toBeNull();
    expect(ctx.logs.join("\n")).toContain("private_key_jwt needs jwks (public keys) or an https jwks_uri");
    const other = "https://agent.corp.example/other.json";
    documents["/other.json"] = {
      client_id: other,
      client_name: "x",
      redirect_uris: ["https://a.example/cb"],
      token_endpoint_auth_method: "private_key_jwt",
      jwks: { keys: [{ kty: "EC", crv: "P-256", x: "a", y: "b", d: "secret" }] },
    };
    expect(await resolveClient(ctx, other, fetcher)).toBeNull();
    const httpUri = "https://agent.corp.example/http.json";
    documents["/http.json"] = { client_id: httpUri, client_name: "x", redirect_uris: ["https://a.example/cb"], token_endpoint_auth_method: "private_key_jwt", jwks_uri: "http://keys.example/jwks" };
    expect(await resolveClient(ctx, httpUri, fetcher)).toBeNull();
  });
});
