/**
 * Nothing a client sends makes the protocol endpoints answer 500: random bodies, headers and
 * parameter combinations always produce a well-formed OAuth answer.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "~/http/server.server";
import { createTestContext, type TestContext } from "../helpers/context";
import { startProtocolServer } from "../helpers/http";
import { issueCode, makeClient, makeUserAndServer } from "./oauth-fixtures";

let ctx: TestContext;
let server: RunningServer;
let clientId: string;
let code: string;

beforeAll(async () => {
  ctx = createTestContext();
  server = await startProtocolServer(ctx);
  const world = await makeUserAndServer(ctx);
  clientId = (await makeClient(ctx)).clientId;
  code = (await issueCode(ctx, { clientId, ...world })).code;
});
afterAll(async () => {
  await server.close(100);
  ctx.cleanup();
});

const KNOWN = ["grant_type", "client_id", "client_secret", "code", "code_verifier", "redirect_uri", "refresh_token", "resource", "scope", "token", "token_type_hint"];

const formField = fc.tuple(
  fc.oneof(fc.constantFrom(...KNOWN), fc.string({ maxLength: 10 })),
  fc.oneof(
    fc.constantFrom("authorization_code", "refresh_token", "none", "", "tga_x", "tgr_x", "tgc_real", "https://127.0.0.1/c.json", "%zz"),
    fc.string({ maxLength: 200 }),
    fc.string({ unit: "binary", maxLength: 50 }),
  ),
);

const authorization = fc.option(
  fc.oneof(
    fc.string({ maxLength: 40 }).map((s) => `Basic ${Buffer.from(s).toString("base64")}`),
    fc.string({ maxLength: 40 }).map((s) => `Basic ${s}`),
    fc.string({ maxLength: 40 }),
  ),
  { nil: undefined },
);

function expectOAuthAnswer(status: number, text: string) {
  expect(status).toBeLessThan(500);
  if (status !== 200 && status !== 201) {
    const body = JSON.parse(text) as Record<string, unknown>;
    expect(typeof body.error).toBe("string");
    expect(typeof body.error_description).toBe("string");
  }
}

describe("robustness of /token, /revoke and /register", () => {
  it("answers every random form post to /token and /revoke without a 500", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom("/token", "/revoke"), fc.array(formField, { maxLength: 8 }), authorization, async (path, fields, auth) => {
        const body = new URLSearchParams(fields.map(([k, v]) => [k, v === "tgc_real" ? code : v])).toString();
        const headers: Record<string, string> = { "Content-Type": "application/x-www-form-urlencoded" };
        if (auth !== undefined) headers.Authorization = auth;
        const res = await fetch(server.url + path, { method: "POST", headers, body });
        expectOAuthAnswer(res.status, await res.text());
      }),
      { numRuns: 150 },
    );
  });

  it("answers every random registration without a 500", async () => {
    const value = fc.oneof(fc.string({ maxLength: 30 }), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string({ maxLength: 30 }), { maxLength: 3 }));
    const metadata = fc.record(
      {
        client_name: value,
        redirect_uris: fc.oneof(value, fc.array(fc.oneof(fc.webUrl(), fc.string({ maxLength: 40 })), { maxLength: 3 })),
        token_endpoint_auth_method: fc.oneof(value, fc.constantFrom("none", "client_secret_basic", "client_secret_post", "private_key_jwt")),
        grant_types: value,
        response_types: value,
        client_uri: fc.oneof(value, fc.webUrl()),
        logo_uri: fc.oneof(value, fc.webUrl()),
        scope: value,
        application_type: value,
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(metadata.map((m) => JSON.stringify(m)), fc.string({ maxLength: 100 })), async (body) => {
        const res = await fetch(server.url + "/register", { method: "POST", headers: { "Content-Type": "application/json" }, body });
        expectOAuthAnswer(res.status, await res.text());
      }),
      { numRuns: 150 },
    );
  });
});
