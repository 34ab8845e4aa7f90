/**
 * Races over real HTTP (issue 7): many requests at once with one code or one refresh token.
 * Node serves them concurrently and SQLite serialises the writes; the outcome must be what
 * docs/decisions/004 says, and afterwards no table holds a duplicate or an orphaned row.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { RunningServer } from "~/http/server.server";
import { verifyAccessToken } from "~/oauth/tokens.server";
import { createTestContext, type TestContext } from "../helpers/context";
import { startProtocolServer } from "../helpers/http";
import { issueCode, makeClient, makeUserAndServer, postForm, REDIRECT } from "./oauth-fixtures";

let ctx: TestContext;
let server: RunningServer;
let world: Awaited<ReturnType<typeof makeUserAndServer>>;

beforeEach(async () => {
  ctx = createTestContext({ TOOLGATE_REFRESH_GRACE: "30" });
  server = await startProtocolServer(ctx);
  world = await makeUserAndServer(ctx);
});
afterEach(async () => {
  await server.close(100);
  ctx.cleanup();
});

const count = (sql: string, ...params: unknown[]) => (ctx.db.$client.prepare(sql).get(...params) as { n: number }).n;

/** Every reference between the grant tables points at an existing row. */
function expectNoOrphans() {
  expect(count("SELECT count(*) AS n FROM access_tokens WHERE family_id NOT IN (SELECT id FROM token_families)")).toBe(0);
  expect(count("SELECT count(*) AS n FROM refresh_tokens WHERE family_id NOT IN (SELECT id FROM token_families)")).toBe(0);
  expect(count("SELECT count(*) AS n FROM access_tokens WHERE grant_id NOT IN (SELECT id FROM grants)")).toBe(0);
  expect(count("SELECT count(*) AS n FROM refresh_tokens WHERE grant_id NOT IN (SELECT id FROM grants)")).toBe(0);
  expect(count("SELECT count(*) AS n FROM token_families WHERE grant_id NOT IN (SELECT id FROM grants)")).toBe(0);
  expect(count("SELECT count(*) AS n FROM authorization_codes WHERE grant_id NOT IN (SELECT id FROM grants)")).toBe(0);
  expect(count("SELECT count(*) AS n FROM authorization_codes WHERE family_id IS NOT NULL AND family_id NOT IN (SELECT id FROM token_families)")).toBe(0);
  expect(count("SELECT count(*) AS n FROM grant_tools WHERE grant_id NOT IN (SELECT id FROM grants)")).toBe(0);
  expect(count("SELECT count(*) AS n FROM refresh_tokens WHERE replaced_by IS NOT NULL AND replaced_by NOT IN (SELECT token_hash FROM refresh_tokens)")).toBe(0);
  expect(ctx.db.$client.pragma("foreign_key_check")).toEqual([]);
}

const exchange = (clientId: string, code: string, verifier: string) =>
  postForm(server.url, "/token", { grant_type: "authorization_code", client_id: clientId, code, code_verifier: verifier, redirect_uri: REDIRECT });
const refresh = (clientId: string, token: string) => postForm(server.url, "/token", { grant_type: "refresh_token", client_id: clientId, refresh_token: token });

describe("50 parallel redemptions of one code", () => {
  it("one success, 49 invalid_grant, the success's tokens revoked (RFC 6749 §10.5), one family and one token of each kind", async () => {
    const { clientId } = makeClient(ctx);
    const { code, verifier, grantId } = issueCode(ctx, { clientId, ...world });
    const results = await Promise.all(Array.from({ length: 50 }, () => exchange(clientId, code, verifier)));
    const ok = results.filter((r) => r.status === 200);
    expect(ok).toHaveLength(1);
    expect(results.filter((r) => r.status === 400 && r.body?.error === "invalid_grant")).toHaveLength(49);
    expect(verifyAccessToken(ctx, ok[0]!.body!.access_token as string)).toBeNull();
    expect((await refresh(clientId, ok[0]!.body!.refresh_token as string)).body?.error).toBe("invalid_grant");
    expect(count("SELECT count(*) AS n FROM token_families WHERE grant_id = ?", grantId)).toBe(1);
    expect(count("SELECT count(*) AS n FROM access_tokens WHERE grant_id = ?", grantId)).toBe(1);
    expect(count("SELECT count(*) AS n FROM refresh_tokens WHERE grant_id = ?", grantId)).toBe(1);
    expect(count("SELECT count(*) AS n FROM access_tokens WHERE grant_id = ? AND revoked_at IS NULL", grantId)).toBe(0);
    expect(count("SELECT count(*) AS n FROM authorization_codes WHERE used_at IS NOT NULL")).toBe(1);
    expectNoOrphans();
  });

  it("50 different codes of one grant redeemed at once all succeed, each in its own family", async () => {
    const { clientId } = makeClient(ctx);
    const first = issueCode(ctx, { clientId, ...world });
    const codes = [first, ...Array.from({ length: 49 }, () => issueCode(ctx, { clientId, ...world, grantId: first.grantId }))];
    const results = await Promise.all(codes.map((c) => exchange(clientId, c.code, c.verifier)));
    expect(results.map((r) => r.status)).toEqual(Array(50).fill(200));
    expect(new Set(results.map((r) => r.body!.access_token)).size).toBe(50);
    expect(count("SELECT count(*) AS n FROM token_families WHERE grant_id = ?", first.grantId)).toBe(50);
    expect(count("SELECT count(DISTINCT family_id) AS n FROM access_tokens WHERE grant_id = ?", first.grantId)).toBe(50);
    expectNoOrphans();
  });
});

describe("parallel refreshes with one refresh token (docs/decisions/004)", () => {
  async function pair() {
    const { clientId } = makeClient(ctx);
    const { code, verifier, grantId } = issueCode(ctx, { clientId, ...world });
    const res = await exchange(clientId, code, verifier);
    expect(res.status).toBe(200);
    return { clientId, grantId, access: res.body!.access_token as string, refresh: res.body!.refresh_token as string };
  }

  it("inside the grace window: every request gets a fresh pair, nothing is revoked, one family", async () => {
    const p = await pair();
    const results = await Promise.all(Array.from({ length: 20 }, () => refresh(p.clientId, p.refresh)));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    const newRefresh = results.map((r) => r.body!.refresh_token as string);
    expect(new Set(newRefresh).size).toBe(20);
    expect(count("SELECT count(*) AS n FROM token_families WHERE grant_id = ?", p.grantId)).toBe(1);
    expect(count("SELECT count(*) AS n FROM refresh_tokens WHERE grant_id = ?", p.grantId)).toBe(21);
    expect(count("SELECT count(*) AS n FROM access_tokens WHERE grant_id = ?", p.grantId)).toBe(21);
    expect(count("SELECT count(*) AS n FROM refresh_tokens WHERE grant_id = ? AND revoked_at IS NOT NULL", p.grantId)).toBe(0);
    expect(count("SELECT revoked_at IS NULL AS n FROM grants WHERE id = ?", p.grantId)).toBe(1);
    // Each successor still works: rotate one of them.
    expect((await refresh(p.clientId, newRefresh[7]!)).status).toBe(200);
    for (const r of results) expect(verifyAccessToken(ctx, r.body!.access_token as string)).not.toBeNull();
    expectNoOrphans();
  });

  it("outside the grace window: every reuse is refused and the whole grant is revoked", async () => {
    const p = await pair();
    const rotated = await refresh(p.clientId, p.refresh);
    expect(rotated.status).toBe(200);
    ctx.advance(31_000);
    const results = await Promise.all(Array.from({ length: 20 }, () => refresh(p.clientId, p.refresh)));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(400));
    for (const r of results) expect(r.body!.error).toBe("invalid_grant");
    expect(count("SELECT revoked_at IS NOT NULL AS n FROM grants WHERE id = ?", p.grantId)).toBe(1);
    expect(count("SELECT count(*) AS n FROM token_families WHERE grant_id = ? AND revoked_at IS NULL", p.grantId)).toBe(0);
    expect(count("SELECT count(*) AS n FROM access_tokens WHERE grant_id = ? AND revoked_at IS NULL", p.grantId)).toBe(0);
    expect(verifyAccessToken(ctx, rotated.body!.access_token as string)).toBeNull();
    expect((await refresh(p.clientId, rotated.body!.refresh_token as string)).body!.error).toBe("invalid_grant");
    // Nothing was issued by the refused requests.
    expect(count("SELECT count(*) AS n FROM refresh_tokens WHERE grant_id = ?", p.grantId)).toBe(2);
    expectNoOrphans();
  });

  it("parallel revocations of one token: all 200, the family revoked once", async () => {
    const p = await pair();
    const results = await Promise.all(Array.from({ length: 20 }, () => postForm(server.url, "/revoke", { client_id: p.clientId, token: p.refresh })));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(verifyAccessToken(ctx, p.access)).toBeNull();
    expect(count("SELECT count(*) AS n FROM token_families WHERE grant_id = ?", p.grantId)).toBe(1);
    expectNoOrphans();
  });
});
