/**
 * Hostile input to the new grants and to DPoP: random and JWT-shaped garbage in client assertions,
 * ID-JAGs, DPoP proofs and DPoP credentials always gets the RFC's error shape (400/401 JSON), never
 * a 5xx, never a stall (fast-check, a bounded number of runs against the real HTTP server).
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { createMachineClient } from "~/oauth/machine-clients.server";
import { registerClient } from "~/oauth/clients.server";
import { basic, postForm } from "./oauth-fixtures";
import { useV2World, type V2World } from "../helpers/sdk-v2";

let w: V2World;
// An issuer that refuses connections: a trusted-looking ID-JAG must fail fast, not hang.
useV2World({ TOOLGATE_ENTERPRISE_IDP_ISSUERS: "http://127.0.0.1:9" }, (world) => (w = world));

const b64 = (value: unknown) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");
const jsonValue = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 }));
const header = fc.record(
  {
    alg: fc.oneof(fc.constantFrom("none", "HS256", "ES256", "RS256", "EdDSA", "PS512", "ES256K"), fc.string()),
    typ: fc.oneof(fc.constantFrom("dpop+jwt", "oauth-id-jag+jwt", "JWT"), fc.string()),
    kid: fc.string(),
    jwk: fc.oneof(
      fc.record({ kty: fc.constantFrom("EC", "RSA", "OKP", "oct"), crv: fc.constantFrom("P-256", "Ed25519", "x"), x: fc.string(), y: fc.string(), d: fc.string(), k: fc.string(), n: fc.string(), e: fc.string() }, { requiredKeys: ["kty"] }),
      jsonValue,
    ),
  },
  { requiredKeys: [] },
);
const payload = fc.dictionary(fc.constantFrom("iss", "sub", "aud", "exp", "iat", "nbf", "jti", "htm", "htu", "ath", "nonce", "client_id", "resource", "scope"), jsonValue);
const jwtish = fc.oneof(
  fc.tuple(header, payload, fc.string()).map(([h, p, s]) => `${b64(h)}.${b64(p)}.${b64(s)}`),
  fc.string({ maxLength: 300 }),
  fc.tuple(fc.string(), fc.string()).map(([a, b]) => `${b64(a)}.${b64(b)}.`),
);

function expectOAuthError(status: number, body: unknown) {
  expect([400, 401]).toContain(status);
  expect(body).toMatchObject({ error: expect.any(String), error_description: expect.any(String) });
}

describe("no 5xx from hostile assertions and proofs", () => {
  it("client_assertion at /token", async () => {
    const created = await createMachineClient(w.ctx, { ownerId: w.seeded.userId, serverId: w.seeded.serverId, name: "m", jwks: { keys: [{ kty: "EC", crv: "P-256", x: "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", y: "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" }] } });
    await fc.assert(
      fc.asyncProperty(jwtish, fc.boolean(), async (assertion, withId) => {
        const res = await postForm(w.issuer, "/token", {
          grant_type: "client_credentials",
          client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
          client_assertion: assertion || "x",
          ...(withId ? { client_id: created.clientId } : {}),
        });
        expectOAuthError(res.status, res.body);
      }),
      { numRuns: 150 },
    );
  });

  it("DPoP proofs at /token and ID-JAGs naming an unreachable trusted issuer", async () => {
    const created = await createMachineClient(w.ctx, { ownerId: w.seeded.userId, serverId: w.seeded.serverId, name: "s" });
    const { response } = await registerClient(w.ctx, { client_name: "c", redirect_uris: ["https://a.example/cb"], token_endpoint_auth_method: "client_secret_basic" });
    await fc.assert(
      fc.asyncProperty(jwtish, async (value) => {
        const dpop = await postForm(w.issuer, "/token", { grant_type: "client_credentials" }, { Authorization: basic(created.clientId, created.secret!), DPoP: value.replace(/[\r\n]/g, "") || "x" });
        expect(dpop.status).toBeLessThan(500);
        if (dpop.status !== 200) expectOAuthError(dpop.status, dpop.body);
        const jag = await postForm(
          w.issuer,
          "/token",
          { grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion: value || "x" },
          { Authorization: basic(response.client_id as string, response.client_secret as string) },
        );
        expectOAuthError(jag.status, jag.body);
      }),
      { numRuns: 100 },
    );
    // A well-formed ID-JAG from the trusted but unreachable issuer: invalid_grant, at once.
    const forged = `${b64({ alg: "RS256", typ: "oauth-id-jag+jwt", kid: "k" })}.${b64({ iss: "http://127.0.0.1:9", sub: "s", aud: w.issuer })}.${b64("sig")}`;
    const res = await postForm(w.issuer, "/token", { grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion: forged }, { Authorization: basic(response.client_id as string, response.client_secret as string) });
    expect(res.body).toEqual({ error: "invalid_grant", error_description: "The assertion's issuer keys could not be fetched" });
  });

  it("DPoP credentials and proofs at the MCP endpoint", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 200 }), jwtish, async (token, proof) => {
        const res = await fetch(w.mcpUrl, {
          method: "POST",
          headers: {
            "Content-Type": "application/json",
            Accept: "application/json, text/event-stream",
            Authorization: `DPoP ${token.replace(/[^\x21-\x7e]/g, "")}`,
            DPoP: proof.replace(/[^\x20-\x7e]/g, "") || "x",
          },
          body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
        });
        expect(res.status).toBe(401);
        expect(res.headers.get("www-authenticate")).toMatch(/^DPoP algs="/);
        expect(await res.json()).toMatchObject({ error: expect.any(String) });
      }),
      { numRuns: 150 },
    );
  });
});
