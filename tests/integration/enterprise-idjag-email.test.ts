/**
 * ID-JAG person lookup by email: only with TOOLGATE_LINK_BY_EMAIL, only for an address the IdP
 * marked verified; and an IdP that is not the sign-in provider links nobody by subject.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUser } from "~/auth/users.server";
import { registerClient } from "~/oauth/clients.server";
import { mcpResourceUrl } from "~/oauth/metadata.server";
import { updateServerAccessSettings } from "~/oauth/server-access.server";
import { createServer } from "~/servers/servers.server";
import { startEnterpriseIdp, type StandInIdp } from "../helpers/enterprise-idp";
import { useV2World, type V2World } from "../helpers/sdk-v2";
import { basic, postForm } from "./oauth-fixtures";

let idp: StandInIdp;
beforeAll(async () => {
  idp = await startEnterpriseIdp();
});
afterAll(() => idp.close());

let w: V2World;
// The IdP is trusted for ID-JAGs but is not the sign-in provider: no identity of it is ever linked.
useV2World(() => ({ TOOLGATE_ENTERPRISE_IDP_ISSUERS: idp.issuer, TOOLGATE_LINK_BY_EMAIL: "true" }), (world) => (w = world));

describe("ID-JAG person by verified email (TOOLGATE_LINK_BY_EMAIL)", () => {
  it("finds the account by a verified email only", async () => {
    const user = await createUser(w.ctx, { email: "carol@corp.example", password: null });
    const serverId = (await createServer(w.ctx, { ownerId: user.id, name: "c", tools: [] })).server.id;
    await updateServerAccessSettings(w.ctx, user.id, serverId, { enterpriseAccess: true });
    const { response } = await registerClient(w.ctx, { client_name: "agent", redirect_uris: ["https://a.example/cb"], token_endpoint_auth_method: "client_secret_basic" });
    const clientId = response.client_id as string;
    const redeem = async (claims: Record<string, unknown>) =>
      postForm(
        w.issuer,
        "/token",
        { grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion: await idp.mint({ sub: "idp-user-7", aud: w.issuer, resource: mcpResourceUrl(w.ctx, serverId), client_id: clientId, ...claims }) },
        { Authorization: basic(clientId, response.client_secret as string) },
      );
    const unverified = await redeem({ email: "carol@corp.example" });
    expect(unverified.body).toMatchObject({ error: "invalid_grant", error_description: expect.stringContaining("linked to no account") });
    const falsy = await redeem({ email: "carol@corp.example", email_verified: false });
    expect(falsy.body).toMatchObject({ error: "invalid_grant" });
    const verified = await redeem({ email: "carol@corp.example", email_verified: true });
    expect(verified.status).toBe(200);
    expect(verified.body).toMatchObject({ token_type: "Bearer" });
  });
});
