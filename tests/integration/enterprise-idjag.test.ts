/**
 * Enterprise-Managed Authorization (ID-JAG) end to end: the SDK v2 CrossAppAccessProvider gets an
 * ID-JAG from a stand-in IdP (RFC 8693 exchange) and redeems it at Toolgate's /token for a person
 * who signed in through that IdP before; then every forged, replayed or misdirected variant.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CrossAppAccessProvider, discoverAndRequestJwtAuthGrant } from "@modelcontextprotocol/client";
import { generateKeyPair } from "jose";
import { listConnections, revokeConnection } from "~/access/connections.server";
import { admitProviderUser } from "~/auth/providers/admission.server";
import { invitations } from "~/db/schema";
import { registerClient } from "~/oauth/clients.server";
import { authorizationServerMetadata, mcpResourceUrl } from "~/oauth/metadata.server";
import { updateServerAccessSettings } from "~/oauth/server-access.server";
import { createServer } from "~/servers/servers.server";
import { echoSchema } from "../helpers/mcp";
import { startEnterpriseIdp, type StandInIdp } from "../helpers/enterprise-idp";
import { connectV2, useV2World, type V2World } from "../helpers/sdk-v2";
import { basic, postForm } from "./oauth-fixtures";

let idp: StandInIdp;
beforeAll(async () => {
  idp = await startEnterpriseIdp();
});
afterAll(() => idp.close());

let w: V2World;
useV2World(
  () => ({
    TOOLGATE_ENTERPRISE_IDP_ISSUERS: idp.issuer,
    // The same provider people sign in with.
    TOOLGATE_OIDC_ISSUER: idp.issuer,
    TOOLGATE_OIDC_CLIENT_ID: "toolgate-at-idp",
    TOOLGATE_OIDC_CLIENT_SECRET: "s3cret",
  }),
  (world) => (w = world),
);

/** A person who signed in with the IdP (the admission step of OIDC sign-in links the identity). */
async function signedInPerson(subject: string) {
  const email = `${subject}@corp.example`;
  await w.ctx.db.insert(invitations).values({ email, createdAt: w.ctx.now() });
  const user = await admitProviderUser(w.ctx, { provider: "oidc", subject, email, emailVerified: true, name: subject });
  const { server } = await createServer(w.ctx, {
    ownerId: user.id,
    name: `${subject}'s tools`,
    tools: [
      { name: "echo", description: "Echo", inputSchema: echoSchema, endpoint: { url: `${w.endpoint.url}/echo` } },
      { name: "admin", description: "Admin", inputSchema: { type: "object" }, endpoint: { url: `${w.endpoint.url}/echo` } },
    ],
  });
  return { userId: user.id, serverId: server.id, resource: mcpResourceUrl(w.ctx, server.id) };
}

async function confidentialClient() {
  const { response } = await registerClient(w.ctx, {
    client_name: "Corp agent",
    redirect_uris: ["https://agent.corp.example/cb"],
    token_endpoint_auth_method: "client_secret_basic",
    grant_types: ["authorization_code", "urn:ietf:params:oauth:grant-type:jwt-bearer"],
  });
  return { clientId: response.client_id as string, secret: response.client_secret as string };
}

describe("metadata", () => {
  it("advertises the jwt-bearer grant and the id-jag profile when an IdP is trusted", async () => {
    expect(authorizationServerMetadata(w.ctx)).toMatchObject({
      grant_types_supported: expect.arrayContaining(["urn:ietf:params:oauth:grant-type:jwt-bearer"]),
      authorization_grant_profiles_supported: ["urn:ietf:params:oauth:grant-profile:id-jag"],
    });
  });
});

describe("CrossAppAccessProvider against Toolgate", () => {
  it("gets a token for the person's opted-in server with the owner's chosen tools; revocable", async () => {
    const person = await signedInPerson("alice");
    await updateServerAccessSettings(w.ctx, person.userId, person.serverId, { enterpriseAccess: true, enterpriseTools: ["echo"] });
    const client = await confidentialClient();
    idp.mapClient("agent-at-idp", client.clientId);
    const provider = new CrossAppAccessProvider({
      clientId: client.clientId,
      clientSecret: client.secret,
      expectedIssuer: w.issuer,
      assertion: async (c) =>
        (
          await discoverAndRequestJwtAuthGrant({
            idpUrl: idp.issuer,
            audience: c.authorizationServerUrl,
            resource: c.resourceUrl,
            idToken: "alice",
            clientId: "agent-at-idp",
            scope: c.scope,
            fetchFn: c.fetchFn,
          })
        ).jwtAuthGrant,
    });
    const { client: mcp } = await connectV2(person.resource, provider);
    expect((await mcp.listTools()).tools.map((t) => t.name)).toEqual(["echo"]);
    await expect(mcp.callTool({ name: "admin", arguments: {} })).rejects.toThrow(/was not approved/);
    expect(idp.exchanges.at(-1)).toMatchObject({ audience: w.issuer, resource: person.resource });
    expect((await provider.tokens())!.refresh_token).toBeUndefined();

    const connection = (await listConnections(w.ctx, person.userId)).find((c) => c.clientId === client.clientId)!;
    expect(connection).toMatchObject({ source: "enterprise", tools: [{ name: "echo" }] });
    const events = await w.ctx.queryRows<{ detail: string }>("select detail from audit_events where kind = 'token.issued' and client_id = ?", client.clientId);
    expect(JSON.parse(events[0]!.detail)).toMatchObject({ grantType: "urn:ietf:params:oauth:grant-type:jwt-bearer", idp: idp.issuer });

    // Revoked like any connection: the token dies at once.
    const token = (await provider.tokens())!.access_token;
    expect(await revokeConnection(w.ctx, person.userId, connection.grantId)).toMatchObject({ revoked: true });
    const res = await fetch(person.resource, { method: "POST", headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", Accept: "application/json, text/event-stream" }, body: "{}" });
    expect(res.status).toBe(401);
    // Turning enterprise access off refuses new ID-JAGs and ends what is left.
    await updateServerAccessSettings(w.ctx, person.userId, person.serverId, { enterpriseAccess: false });
    const refused = await postForm(w.issuer, "/token", { grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion: await idp.mint({ sub: "alice", aud: w.issuer, resource: person.resource, client_id: client.clientId }) }, { Authorization: basic(client.clientId, client.secret) });
    expect(refused.body).toEqual({ error: "invalid_grant", error_description: "The MCP server's owner has not enabled enterprise-managed connections" });
  });
});

describe("refusals, each invalid_grant naming the failed check", () => {
  it("refuses every forged, replayed or misdirected ID-JAG", async () => {
    const alice = await signedInPerson("alice2");
    const bob = await signedInPerson("bob2");
    await updateServerAccessSettings(w.ctx, alice.userId, alice.serverId, { enterpriseAccess: true, enterpriseTools: ["echo"] });
    await updateServerAccessSettings(w.ctx, bob.userId, bob.serverId, { enterpriseAccess: true, enterpriseTools: ["echo"] });
    const notOptedIn = (await createServer(w.ctx, { ownerId: alice.userId, name: "private", tools: [] })).server.id;
    const client = await confidentialClient();
    const other = await confidentialClient();
    const good = { sub: "alice2", aud: w.issuer, resource: alice.resource, client_id: client.clientId };
    const redeem = (assertion: string, extra: Record<string, string> = {}) =>
      postForm(w.issuer, "/token", { grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion, ...extra }, { Authorization: basic(client.clientId, client.secret) });

    const once = await idp.mint(good);
    const first = await redeem(once);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ token_type: "Bearer", scope: "mcp:tools" });

    const stranger = await generateKeyPair("RS256");
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, Promise<string> | string, string][] = [
      ["replayed jti", once, "The assertion's jti was already used (replay)"],
      ["wrong audience", idp.mint({ ...good, aud: "https://other-as.example" }), "The assertion's aud does not name this authorization server"],
      ["expired", idp.mint({ ...good, iat: now - 900, exp: now - 600 }), "The assertion's exp has passed (expired)"],
      ["another person's server", idp.mint({ ...good, resource: bob.resource }), "The assertion's person does not own the MCP server named by its resource"],
      ["server not opted in", idp.mint({ ...good, resource: mcpResourceUrl(w.ctx, notOptedIn) }), "The MCP server's owner has not enabled enterprise-managed connections"],
      ["unknown resource", idp.mint({ ...good, resource: `${w.issuer}/mcp/nope` }), "The assertion's resource is not one of this server's MCP servers"],
      ["another client", idp.mint({ ...good, client_id: other.clientId }), "The assertion's client_id is not the authenticated client"],
      ["wrong typ", idp.mint(good, { typ: "JWT" }), "The assertion's typ must be oauth-id-jag+jwt"],
      ["untrusted issuer", idp.mint({ ...good, iss: "https://evil.example" }), "The assertion's iss is not an identity provider this server trusts"],
      ["forged signature", idp.mint(good, {}, stranger.privateKey), "The assertion's signature does not verify"],
      ["unlinked person", idp.mint({ ...good, sub: "mallory" }), "The assertion's sub is linked to no account here: the person must sign in with this identity provider first"],
      ["no jti", idp.mint({ ...good, jti: undefined }), "The assertion's jti claim is missing"],
      ["too long-lived", idp.mint({ ...good, exp: now + 86_400 }), "The assertion's exp is more than 3600 seconds ahead"],
      ["no scope in common", idp.mint({ ...good, scope: "admin:all" }), "The requested and asserted scopes have nothing in common"],
      [
        "alg none",
        `${Buffer.from(JSON.stringify({ alg: "none", typ: "oauth-id-jag+jwt" })).toString("base64url")}.${Buffer.from(JSON.stringify({ ...good, iss: idp.issuer })).toString("base64url")}.`,
        "The assertion's alg must be one of RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA",
      ],
    ];
    for (const [name, assertion, description] of cases) {
      const res = await redeem(await assertion);
      expect({ name, status: res.status, body: res.body }).toEqual({ name, status: 400, body: { error: "invalid_grant", error_description: description } });
    }
    // A resource parameter must match the assertion's.
    const mismatch = await redeem(await idp.mint(good), { resource: bob.resource });
    expect(mismatch.body).toEqual({ error: "invalid_grant", error_description: "The resource parameter does not match the assertion's resource" });
    // A public client may not redeem one.
    const { response } = await registerClient(w.ctx, { client_name: "public", redirect_uris: ["https://p.example/cb"], token_endpoint_auth_method: "none" });
    const publicTry = await postForm(w.issuer, "/token", { grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion: await idp.mint(good), client_id: response.client_id as string });
    expect(publicTry.body).toMatchObject({ error: "unauthorized_client" });
  });
});
