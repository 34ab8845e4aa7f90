/**
 * Machine clients (the MCP OAuth Client Credentials extension) end to end with the SDK v2 client's
 * own providers: PrivateKeyJwtProvider (private_key_jwt, RFC 7523 §2.2) and
 * ClientCredentialsProvider (a secret, client_secret_basic), then revocation.
 */
import { describe, expect, it } from "vitest";
import { ClientCredentialsProvider, PrivateKeyJwtProvider } from "@modelcontextprotocol/client";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { listConnections } from "~/access/connections.server";
import { createMachineClient, revokeMachineClient, rotateMachineClientSecret } from "~/oauth/machine-clients.server";
import { verifyAccessToken } from "~/oauth/tokens.server";
import { basic, postForm } from "./oauth-fixtures";
import { connectV2, useV2World, type V2World } from "../helpers/sdk-v2";

let w: V2World;
useV2World({}, (world) => (w = world));

async function keyPair(alg = "ES256") {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid: `k-${alg}`, alg, use: "sig" };
  const privateJwk = { ...(await exportJWK(privateKey)), kid: `k-${alg}`, alg };
  return { publicJwk, privateJwk, privateKey };
}

function textOf(result: unknown): string {
  return ((result as { content: { text: string }[] }).content[0]?.text ?? "") as string;
}

describe("machine client with private_key_jwt (PrivateKeyJwtProvider)", () => {
  it("lists and calls only its tools, appears as a machine client, and stops at once after revoke", async () => {
    const keys = await keyPair();
    const created = await createMachineClient(w.ctx, {
      ownerId: w.seeded.userId,
      serverId: w.seeded.serverId,
      name: "Nightly report",
      toolNames: ["echo"],
      jwks: { keys: [keys.publicJwk] },
    });
    expect(created).toMatchObject({ authMethod: "private_key_jwt", secret: null, tools: ["echo"] });
    const provider = new PrivateKeyJwtProvider({
      clientId: created.clientId,
      privateKey: keys.privateJwk as Record<string, unknown>,
      algorithm: "ES256",
      expectedIssuer: w.issuer,
    });
    const { client } = await connectV2(w.mcpUrl, provider);

    const listed = await client.listTools();
    expect(listed.tools.map((t) => t.name)).toEqual(["echo"]);
    expect(textOf(await client.callTool({ name: "echo", arguments: { text: "hi" } }))).toContain("hi");
    await expect(client.callTool({ name: "delete_everything", arguments: {} })).rejects.toThrow(/was not approved/);
    expect(w.endpoint.received.map((r) => r.path)).toEqual(["/echo"]);

    // The token: bound to the server, no refresh token, acting for the owner.
    const tokens = await provider.tokens();
    expect(tokens?.refresh_token).toBeUndefined();
    const verified = (await verifyAccessToken(w.ctx, tokens!.access_token))!;
    expect(verified).toMatchObject({ serverId: w.seeded.serverId, userId: w.seeded.userId, clientId: created.clientId });

    // Connected apps and Activity show it.
    const connection = (await listConnections(w.ctx, w.seeded.userId)).find((c) => c.clientId === created.clientId)!;
    expect(connection).toMatchObject({ identifiedBy: "machine", source: "machine", applicationName: "Nightly report", tools: [{ name: "echo" }] });
    const events = await w.ctx.queryRows<{ kind: string; detail: string }>("select kind, detail from audit_events where client_id = ? order by id", created.clientId);
    expect(events.map((e) => e.kind)).toEqual(expect.arrayContaining(["machine_client.created", "token.issued"]));
    expect(JSON.parse(events.find((e) => e.kind === "token.issued")!.detail).grantType).toBe("client_credentials");

    expect(await revokeMachineClient(w.ctx, w.seeded.userId, created.clientId)).toBe(true);
    expect(await verifyAccessToken(w.ctx, tokens!.access_token)).toBeNull();
    // The SDK sees the 401, runs client_credentials again and is refused: the client is dead.
    await expect(client.listTools()).rejects.toThrow();
    const again = await postForm(w.issuer, "/token", {
      grant_type: "client_credentials",
      client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
      client_assertion: await assertion(created.clientId, keys.privateKey, {}),
    });
    expect(again.body).toEqual({ error: "invalid_grant", error_description: "This machine client was revoked" });
  });
});

async function assertion(clientId: string, key: CryptoKey | Uint8Array, claims: Record<string, unknown>, header: Record<string, unknown> = {}) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: clientId, sub: clientId, aud: w.issuer, exp: now + 120, iat: now, jti: crypto.randomUUID(), ...claims })
    .setProtectedHeader({ alg: "ES256", kid: "k-ES256", ...header })
    .sign(key);
}

describe("private_key_jwt assertion checks (RFC 7523 §3)", () => {
  async function setup() {
    const keys = await keyPair();
    const created = await createMachineClient(w.ctx, { ownerId: w.seeded.userId, serverId: w.seeded.serverId, name: "m", jwks: { keys: [keys.publicJwk] } });
    const send = (value: string, extra: Record<string, string> = {}) =>
      postForm(w.issuer, "/token", {
        grant_type: "client_credentials",
        client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        client_assertion: value,
        resource: w.mcpUrl,
        ...extra,
      });
    return { keys, clientId: created.clientId, send };
  }

  it("accepts aud = the token endpoint, and refuses a replayed jti", async () => {
    const { keys, clientId, send } = await setup();
    const value = await assertion(clientId, keys.privateKey, { aud: `${w.issuer}/token` });
    const first = await send(value);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ token_type: "Bearer", scope: "mcp:tools" });
    expect(first.body!.refresh_token).toBeUndefined();
    const replay = await send(value);
    expect(replay.status).toBe(401);
    expect(replay.body).toEqual({ error: "invalid_client", error_description: "Client authentication failed: the client assertion's jti was already used (replay)" });
  });

  it("refuses every forged or malformed variant with invalid_client naming the check", async () => {
    const { keys, clientId, send } = await setup();
    const other = await keyPair();
    const cases: [string, Promise<string>, string][] = [
      ["wrong aud", assertion(clientId, keys.privateKey, { aud: "https://elsewhere.example" }), "aud does not name this authorization server"],
      ["expired", assertion(clientId, keys.privateKey, { exp: Math.floor(Date.now() / 1000) - 120 }), "exp has passed (expired)"],
      ["exp too far", assertion(clientId, keys.privateKey, { exp: Math.floor(Date.now() / 1000) + 3600 }), "exp must be at most 300 seconds ahead"],
      ["iat in the future", assertion(clientId, keys.privateKey, { iat: Math.floor(Date.now() / 1000) + 600 }), "iat is in the future"],
      ["no jti", assertion(clientId, keys.privateKey, { jti: undefined }), "jti claim is missing"],
      ["iss of another", assertion(clientId, keys.privateKey, { iss: "someone-else" }), "iss claim is not acceptable"],
      ["signed by another key", assertion(clientId, other.privateKey, {}), "signature does not verify"],
      ["unknown kid", assertion(clientId, other.privateKey, {}, { kid: "nope" }), "signing key is not among the registered keys (kid)"],
    ];
    for (const [name, value, reason] of cases) {
      const res = await send(await value);
      expect({ name, status: res.status, body: res.body }).toEqual({
        name,
        status: 401,
        body: { error: "invalid_client", error_description: `Client authentication failed: the client assertion's ${reason}` },
      });
    }
    // alg none and HS256 (a MAC keyed by guessable material) are never accepted.
    const unsigned = `${Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url")}.${Buffer.from(JSON.stringify({ iss: clientId, sub: clientId, aud: w.issuer, exp: Math.floor(Date.now() / 1000) + 60, jti: "x" })).toString("base64url")}.`;
    expect((await send(unsigned)).body!.error_description).toBe(
      "Client authentication failed: the client assertion's alg must be one of RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA",
    );
    const hs = await new SignJWT({ iss: clientId, sub: clientId, aud: w.issuer, exp: Math.floor(Date.now() / 1000) + 60, jti: "y" })
      .setProtectedHeader({ alg: "HS256" })
      .sign(new TextEncoder().encode(JSON.stringify(keys.publicJwk)));
    expect((await send(hs)).body!.error_description).toContain("alg must be one of");
    // The wrong resource for this client.
    const wrongResource = await send(await assertion(clientId, keys.privateKey, {}), { resource: `${w.issuer}/mcp/other` });
    expect(wrongResource.body).toMatchObject({ error: "invalid_target" });
  });

  it("is refused to a client that is not a machine client", async () => {
    const { response } = await (await import("~/oauth/clients.server")).registerClient(w.ctx, {
      client_name: "web app",
      redirect_uris: ["https://app.example/cb"],
      token_endpoint_auth_method: "client_secret_basic",
    });
    const res = await postForm(w.issuer, "/token", { grant_type: "client_credentials" }, { Authorization: basic(response.client_id as string, response.client_secret as string) });
    expect(res.body).toMatchObject({ error: "unauthorized_client" });
  });
});

describe("machine client with a secret (ClientCredentialsProvider)", () => {
  it("works with client_secret_basic, the secret rotates, and revoke ends it", async () => {
    const created = await createMachineClient(w.ctx, { ownerId: w.seeded.userId, serverId: w.seeded.serverId, name: "CI", toolNames: ["echo"] });
    expect(created.authMethod).toBe("client_secret_basic");
    expect(created.secret).toMatch(/^tgs_/);
    const [stored] = await w.ctx.queryRows<{ secret_hash: string }>("select secret_hash from oauth_clients where id = ?", created.clientId);
    expect(stored!.secret_hash).not.toContain(created.secret);

    const provider = new ClientCredentialsProvider({ clientId: created.clientId, clientSecret: created.secret!, expectedIssuer: w.issuer });
    const { client } = await connectV2(w.mcpUrl, provider);
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(["echo"]);
    expect(textOf(await client.callTool({ name: "echo", arguments: { text: "from ci" } }))).toContain("from ci");

    const rotated = await rotateMachineClientSecret(w.ctx, w.seeded.userId, created.clientId);
    const old = await postForm(w.issuer, "/token", { grant_type: "client_credentials" }, { Authorization: basic(created.clientId, created.secret!) });
    expect(old.status).toBe(401);
    const fresh = await postForm(w.issuer, "/token", { grant_type: "client_credentials", resource: w.mcpUrl }, { Authorization: basic(created.clientId, rotated) });
    expect(fresh.status).toBe(200);

    await revokeMachineClient(w.ctx, w.seeded.userId, created.clientId);
    await expect(client.listTools()).rejects.toThrow();
    const after = await postForm(w.issuer, "/token", { grant_type: "client_credentials" }, { Authorization: basic(created.clientId, rotated) });
    expect(after.body).toEqual({ error: "invalid_grant", error_description: "This machine client was revoked" });
  });

  it("refuses a JWKS holding a private key, and unknown tools", async () => {
    await expect(createMachineClient(w.ctx, { ownerId: w.seeded.userId, serverId: w.seeded.serverId, name: "x", jwks: { keys: [{ kty: "EC", crv: "P-256", x: "a", y: "b", d: "c" }] } })).rejects.toThrow(/private/);
    await expect(createMachineClient(w.ctx, { ownerId: w.seeded.userId, serverId: w.seeded.serverId, name: "x", toolNames: ["nope"] })).rejects.toThrow(/no tool named nope/);
    await expect(createMachineClient(w.ctx, { ownerId: "someone-else", serverId: w.seeded.serverId, name: "x" })).rejects.toThrow(/No server of yours/);
    await expect(createMachineClient(w.ctx, { ownerId: w.seeded.userId, serverId: w.seeded.serverId, name: "x", jwksUri: "http://127.0.0.1/jwks" })).rejects.toThrow(/not https/);
  });
});

describe("private_key_jwt with a jwks_uri (fetched under the metadata-document rules)", () => {
  it("fetches the keys, refetches on an unknown kid (rotation), and refuses what the fetch rules refuse", async () => {
    const http = await import("node:http");
    const { authenticateClient } = await import("~/oauth/clients.server");
    const { createMetadataDocumentFetcher } = await import("~/oauth/metadata-document-fetch.server");
    const first = await keyPair("ES256");
    const rotated = await keyPair("ES256");
    rotated.publicJwk.kid = rotated.privateJwk.kid = "k-rotated";
    let served = [first.publicJwk];
    let fetches = 0;
    const keyServer = http.createServer((req, res) => {
      fetches++;
      if (req.url === "/redirect") return res.writeHead(302, { Location: "/jwks.json" }).end();
      res.writeHead(200, { "Content-Type": "application/json", "Cache-Control": "max-age=3600" }).end(JSON.stringify({ keys: served }));
    });
    await new Promise<void>((resolve) => keyServer.listen(0, "127.0.0.1", resolve));
    const port = (keyServer.address() as import("node:net").AddressInfo).port;
    // The production rules, pointed at this loopback server (tests only: the URL stays https).
    const fetcher = createMetadataDocumentFetcher({ resolve: async () => [{ address: "127.0.0.1", family: 4 }], isAllowedAddress: () => true, plainHttpPort: port });
    try {
      const created = await createMachineClient(w.ctx, { ownerId: w.seeded.userId, serverId: w.seeded.serverId, name: "remote", jwksUri: "https://keys.example.test/jwks.json" });
      const authenticate = async (key: CryptoKey, kid: string) =>
        authenticateClient(
          w.ctx,
          { clientId: created.clientId, method: "private_key_jwt", secret: null, assertion: await assertion(created.clientId, key, {}, { kid }) },
          fetcher,
        );
      await expect(authenticate(first.privateKey, "k-ES256")).resolves.toMatchObject({ id: created.clientId });
      await authenticate(first.privateKey, "k-ES256");
      expect(fetches).toBe(1);
      served = [first.publicJwk, rotated.publicJwk];
      // An unknown kid refetches the set, at most once a minute (so a flood of bad kids is not a flood of fetches).
      await expect(authenticate(rotated.privateKey, "k-rotated")).rejects.toMatchObject({ code: "invalid_client" });
      expect(fetches).toBe(1);
      w.ctx.now = () => Date.now() + 61_000;
      await expect(authenticate(rotated.privateKey, "k-rotated")).resolves.toMatchObject({ id: created.clientId });
      expect(fetches).toBe(2);

      // A jwks_uri that redirects is refused: redirects are never followed.
      const redirecting = await createMachineClient(w.ctx, { ownerId: w.seeded.userId, serverId: w.seeded.serverId, name: "r", jwksUri: "https://keys.example.test/redirect" });
      await expect(
        authenticateClient(w.ctx, { clientId: redirecting.clientId, method: "private_key_jwt", secret: null, assertion: await assertion(redirecting.clientId, first.privateKey, {}) }, fetcher),
      ).rejects.toMatchObject({ code: "invalid_client", description: expect.stringContaining("keys could not be fetched from the jwks_uri") });
      // With the production policy, a host on a private address is never contacted.
      const privateHost = await createMachineClient(w.ctx, { ownerId: w.seeded.userId, serverId: w.seeded.serverId, name: "p", jwksUri: "https://127.0.0.1/jwks.json" });
      const before = fetches;
      await expect(
        authenticateClient(w.ctx, { clientId: privateHost.clientId, method: "private_key_jwt", secret: null, assertion: await assertion(privateHost.clientId, first.privateKey, {}) }),
      ).rejects.toMatchObject({ code: "invalid_client" });
      expect(fetches).toBe(before);
    } finally {
      keyServer.closeAllConnections();
      await new Promise<void>((resolve) => keyServer.close(() => resolve()));
    }
  });
});
