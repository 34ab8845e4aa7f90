/**
 * DPoP (RFC 9449) end to end with the SDK v2 client's own DpopSession / withDpop: tokens bound to
 * the client's key at /token, proofs checked at /mcp, server nonces, a stolen token refused without
 * its key, owners that require DPoP, and refresh tokens of public clients bound to the same key.
 */
import { describe, expect, it } from "vitest";
import { ClientCredentialsProvider, DpopSession } from "@modelcontextprotocol/client";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";
import { createMachineClient } from "~/oauth/machine-clients.server";
import { updateServerAccessSettings } from "~/oauth/server-access.server";
import { accessTokenHash } from "~/oauth/dpop.server";
import { findServerForMetadata, protectedResourceMetadata } from "~/oauth/metadata.server";
import { claimOnce } from "~/oauth/replay-guard.server";
import { basic, issueCode, makeClient, postForm, REDIRECT } from "./oauth-fixtures";
import { connectV2, useV2World, type V2World } from "../helpers/sdk-v2";
import { sha256Hex } from "~/utils/crypto.server";

/** ClientCredentialsProvider with a DPoP key: the SDK then binds and presents tokens with DPoP. */
class DpopMachineProvider extends ClientCredentialsProvider {
  constructor(
    options: ConstructorParameters<typeof ClientCredentialsProvider>[0],
    readonly session: DpopSession,
  ) {
    super(options);
  }
  dpop() {
    return this.session;
  }
}

/** A fetch that records (method, path, status) of every request the SDK makes. */
function recordingFetch() {
  const seen: string[] = [];
  const fetchFn: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    seen.push(`${init?.method ?? "GET"} ${new URL(String(input instanceof Request ? input.url : input)).pathname} ${response.status}`);
    return response;
  };
  return { seen, fetchFn };
}

async function machineWithDpop(w: V2World) {
  const created = await createMachineClient(w.ctx, { ownerId: w.seeded.userId, serverId: w.seeded.serverId, name: "dpop bot", toolNames: ["echo"] });
  const session = await DpopSession.create();
  const provider = new DpopMachineProvider({ clientId: created.clientId, clientSecret: created.secret!, expectedIssuer: w.issuer }, session);
  return { created, session, provider };
}

async function tokenRow(w: V2World, token: string) {
  return (await w.ctx.queryRows<{ jkt: string | null }>("select dpop_jkt as jkt from access_tokens where token_hash = ?", sha256Hex(token)))[0]!;
}

describe("DPoP without server nonces", () => {
  let w: V2World;
  useV2World({}, (world) => (w = world));

  it("binds the token to the key; the SDK client works; a stolen token is refused without its key", async () => {
    const { session, provider } = await machineWithDpop(w);
    const { client } = await connectV2(w.mcpUrl, provider);
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(["echo"]);
    const tokens = (await provider.tokens())!;
    expect(tokens.token_type).toBe("DPoP");
    expect((await tokenRow(w, tokens.access_token)).jkt).toBe(session.thumbprint);

    const call = (headers: Record<string, string>) =>
      fetch(w.mcpUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25", ...headers },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
      });

    // A thief with the token but not the key: as Bearer (RFC 9449 §7.2), then with a proof of its own key.
    const asBearer = await call({ Authorization: `Bearer ${tokens.access_token}` });
    expect(asBearer.status).toBe(401);
    expect(asBearer.headers.get("www-authenticate")).toMatch(/^DPoP algs="ES256 [^"]*", resource_metadata=".*", error="invalid_token"/);
    const thief = await DpopSession.create();
    const thiefProof = await thief.buildProof({ htm: "POST", htu: w.mcpUrl, accessToken: tokens.access_token });
    const withThiefKey = await call({ Authorization: `DPoP ${tokens.access_token}`, DPoP: thiefProof });
    expect(withThiefKey.status).toBe(401);
    expect(withThiefKey.headers.get("www-authenticate")).toContain('error="invalid_dpop_proof"');
    expect(await withThiefKey.json()).toMatchObject({ error_description: "The DPoP proof is not signed with the key this access token is bound to" });

    // The rightful key: one proof, used once.
    const proof = await session.buildProof({ htm: "POST", htu: w.mcpUrl, accessToken: tokens.access_token });
    expect((await call({ Authorization: `DPoP ${tokens.access_token}`, DPoP: proof })).status).toBe(200);
    const replay = await call({ Authorization: `DPoP ${tokens.access_token}`, DPoP: proof });
    expect(replay.status).toBe(401);
    expect(await replay.json()).toMatchObject({ error: "invalid_dpop_proof", error_description: "The DPoP proof was already used (jti replay)" });

    // Each claim of the proof is checked.
    const variants: [string, Promise<string>, string][] = [
      ["htm", session.buildProof({ htm: "GET", htu: w.mcpUrl, accessToken: tokens.access_token }), "htm must be POST"],
      ["htu", session.buildProof({ htm: "POST", htu: `${w.issuer}/mcp/other`, accessToken: tokens.access_token }), `htu must be ${w.mcpUrl}`],
      ["ath", session.buildProof({ htm: "POST", htu: w.mcpUrl, accessToken: "tga_other" }), "ath does not match the access token"],
      ["no ath", session.buildProof({ htm: "POST", htu: w.mcpUrl }), "ath does not match the access token"],
    ];
    for (const [name, value, reason] of variants) {
      const res = await call({ Authorization: `DPoP ${tokens.access_token}`, DPoP: await value });
      expect({ name, status: res.status, description: ((await res.json()) as { error_description: string }).error_description }).toEqual({
        name,
        status: 401,
        description: `The DPoP proof's ${reason}`,
      });
    }
    // A query string is not part of htu (RFC 9449 §4.3).
    const withQuery = await session.buildProof({ htm: "POST", htu: `${w.mcpUrl}?x=1`, accessToken: tokens.access_token });
    expect((await call({ Authorization: `DPoP ${tokens.access_token}`, DPoP: withQuery })).status).toBe(200);
  });

  it("refuses proofs that are old, unsigned, carry a private key or use a MAC", async () => {
    const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
    const jwk = await exportJWK(publicKey);
    const privateJwk = await exportJWK(privateKey);
    const tokenUrl = `${w.issuer}/token`;
    const created = await createMachineClient(w.ctx, { ownerId: w.seeded.userId, serverId: w.seeded.serverId, name: "raw" });
    const send = (proof: string) =>
      postForm(w.issuer, "/token", { grant_type: "client_credentials" }, { Authorization: basic(created.clientId, created.secret!), DPoP: proof });
    const sign = (claims: Record<string, unknown>, header: Record<string, unknown> = {}) =>
      new SignJWT({ htm: "POST", htu: tokenUrl, iat: Math.floor(Date.now() / 1000), jti: crypto.randomUUID(), ...claims })
        .setProtectedHeader({ alg: "ES256", typ: "dpop+jwt", jwk, ...header })
        .sign(privateKey);
    const ok = await send(await sign({}));
    expect(ok.body).toMatchObject({ token_type: "DPoP" });
    const cases: [Promise<string> | string, string][] = [
      [sign({ iat: Math.floor(Date.now() / 1000) - 600 }), "The DPoP proof's iat must be within 60 seconds of the server's time"],
      [sign({}, { typ: "JWT" }), "The DPoP proof's typ must be dpop+jwt"],
      [sign({}, { jwk: privateJwk }), "The DPoP proof's jwk must be a public key"],
      [sign({ jti: undefined }), "The DPoP proof needs a jti of 8 to 256 characters"],
      [sign({ htu: `${w.issuer}/other` }), `The DPoP proof's htu must be ${tokenUrl}`],
      [`${Buffer.from(JSON.stringify({ alg: "none", typ: "dpop+jwt", jwk })).toString("base64url")}.${Buffer.from("{}").toString("base64url")}.x`, "The DPoP proof's alg must be one of ES256 ES384 ES512 RS256 RS384 RS512 PS256 PS384 PS512 EdDSA"],
      [new SignJWT({ htm: "POST", htu: tokenUrl, iat: Math.floor(Date.now() / 1000), jti: crypto.randomUUID() }).setProtectedHeader({ alg: "HS256", typ: "dpop+jwt", jwk: { kty: "oct", k: "c2VjcmV0" } as unknown as JWK }).sign(new TextEncoder().encode("secret")), "The DPoP proof's alg must be one of ES256 ES384 ES512 RS256 RS384 RS512 PS256 PS384 PS512 EdDSA"],
      ["a.b.c, d.e.f", "The DPoP header must hold exactly one proof JWT"],
    ];
    for (const [proof, description] of cases) {
      const res = await send(await proof);
      expect({ status: res.status, body: res.body }).toEqual({ status: 400, body: { error: "invalid_dpop_proof", error_description: description } });
    }
  });

  it("binds a public client's refresh token to the key: refreshing needs a proof of the same key", async () => {
    const { clientId } = await makeClient(w.ctx, "none");
    const session = await DpopSession.create();
    const other = await DpopSession.create();
    const tokenUrl = `${w.issuer}/token`;
    const { code, verifier } = await issueCode(w.ctx, { clientId, userId: w.seeded.userId, serverId: w.seeded.serverId });
    const exchanged = await postForm(
      w.issuer,
      "/token",
      { grant_type: "authorization_code", code, code_verifier: verifier, redirect_uri: REDIRECT, client_id: clientId },
      { DPoP: await session.buildProof({ htm: "POST", htu: tokenUrl }) },
    );
    expect(exchanged.body).toMatchObject({ token_type: "DPoP" });
    const refresh = exchanged.body!.refresh_token as string;
    const refreshWith = async (proof?: string) =>
      postForm(w.issuer, "/token", { grant_type: "refresh_token", refresh_token: refresh, client_id: clientId }, proof ? { DPoP: proof } : {});
    expect((await refreshWith()).body).toEqual({ error: "invalid_grant", error_description: "The refresh token is bound to a DPoP key: send a DPoP proof signed with it" });
    expect((await refreshWith(await other.buildProof({ htm: "POST", htu: tokenUrl }))).body).toEqual({
      error: "invalid_grant",
      error_description: "The DPoP proof is not signed with the key the refresh token is bound to",
    });
    const good = await refreshWith(await session.buildProof({ htm: "POST", htu: tokenUrl }));
    expect(good.status).toBe(200);
    expect(good.body).toMatchObject({ token_type: "DPoP" });
    expect((await tokenRow(w, good.body!.access_token as string)).jkt).toBe(await calculateJwkThumbprint(session.publicJwk));
  });

  it("keeps plain bearer tokens working, until the owner requires DPoP for the server", async () => {
    const created = await createMachineClient(w.ctx, { ownerId: w.seeded.userId, serverId: w.seeded.serverId, name: "plain", toolNames: ["echo"] });
    const provider = new ClientCredentialsProvider({ clientId: created.clientId, clientSecret: created.secret!, expectedIssuer: w.issuer });
    const { client } = await connectV2(w.mcpUrl, provider);
    expect((await client.listTools()).tools).toHaveLength(1);
    expect((await provider.tokens())!.token_type).toBe("Bearer");

    await updateServerAccessSettings(w.ctx, w.seeded.userId, w.seeded.serverId, { dpopRequired: true });
    // (Over HTTP the per-server document is cached for a second; the document itself says it at once.)
    const metadata = protectedResourceMetadata(w.ctx, (await findServerForMetadata(w.ctx, w.seeded.serverId))!);
    expect(metadata).toMatchObject({ dpop_bound_access_tokens_required: true, dpop_signing_alg_values_supported: expect.arrayContaining(["ES256"]) });
    const bearer = await fetch(w.mcpUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream", Authorization: `Bearer ${(await provider.tokens())!.access_token}` },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(bearer.status).toBe(401);
    expect(await bearer.json()).toMatchObject({ error: "invalid_token", error_description: "This MCP server accepts DPoP-bound access tokens only" });

    // A client with a DPoP key gets in.
    const { provider: dpopProvider } = await machineWithDpop(w);
    const { client: dpopClient } = await connectV2(w.mcpUrl, dpopProvider);
    expect((await dpopClient.listTools()).tools).toHaveLength(1);
  });
});

describe("DPoP with server nonces (TOOLGATE_DPOP_NONCE)", () => {
  let w: V2World;
  useV2World({ TOOLGATE_DPOP_NONCE: "true" }, (world) => (w = world));

  it("asks for a nonce at /token (400) and at /mcp (401); the SDK retries with it and succeeds", async () => {
    const { provider } = await machineWithDpop(w);
    const { seen, fetchFn } = await recordingFetch();
    const { Client, StreamableHTTPClientTransport } = await import("@modelcontextprotocol/client");
    const client = new Client({ name: "nonce-test", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(w.mcpUrl), { authProvider: provider, fetch: fetchFn }));
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(["echo"]);
    expect(seen).toContain("POST /token 400");
    expect(seen).toContain("POST /token 200");

    // At the resource: a proof without the nonce gets 401 use_dpop_nonce with a DPoP-Nonce header.
    const tokens = (await provider.tokens())!;
    const proof = await provider.session.buildProof({ htm: "POST", htu: w.mcpUrl, accessToken: tokens.access_token, nonce: "not-the-nonce" });
    const res = await fetch(w.mcpUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream", Authorization: `DPoP ${tokens.access_token}`, DPoP: proof },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toContain('error="use_dpop_nonce"');
    const nonce = res.headers.get("dpop-nonce")!;
    expect(nonce).toMatch(/^[a-z0-9]+\.[A-Za-z0-9_-]{22}$/);
    const retried = await fetch(w.mcpUrl, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json, text/event-stream",
        Authorization: `DPoP ${tokens.access_token}`,
        DPoP: await provider.session.buildProof({ htm: "POST", htu: w.mcpUrl, accessToken: tokens.access_token, nonce }),
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(retried.status).toBe(200);
    expect(accessTokenHash(tokens.access_token)).toHaveLength(43);
  });
});

describe("the replay guard across replicas", () => {
  let w: V2World;
  useV2World({}, (world) => (w = world));

  it("lets exactly one of two connections to the same database claim a jti", async () => {
    // A second connection to the same database stands for a second replica.
    const replicaStore = w.ctx.openReplicaStore();
    const replica = { ...w.ctx, db: replicaStore.db, store: replicaStore };
    const expires = Date.now() + 60_000;
    expect(await claimOnce(w.ctx, "dpop", "key", "jti-1", expires)).toBe(true);
    expect(await claimOnce(replica, "dpop", "key", "jti-1", expires)).toBe(false);
    expect(await claimOnce(replica, "dpop", "key", "jti-2", expires)).toBe(true);
    expect(await claimOnce(w.ctx, "dpop", "key", "jti-2", expires)).toBe(false);
    // Another key's jti is another value; an expired claim can be taken again.
    expect(await claimOnce(w.ctx, "dpop", "other-key", "jti-1", expires)).toBe(true);
    expect(await claimOnce(w.ctx, "client_assertion", "c", "j", Date.now() - 1)).toBe(true);
    expect(await claimOnce(replica, "client_assertion", "c", "j", expires)).toBe(true);
    await replicaStore.close();
  });
});
