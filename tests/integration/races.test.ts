/**
 * Races over real HTTP (issue 7): many requests at once with one code or one refresh token.
 * Node serves them concurrently and SQLite serialises the writes; the outcome must be what
 * docs/decisions/004 says, and afterwards no table holds a duplicate or an orphaned row.
 */
import fc from "fast-check";
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

const count = (sql: string, ...params: unknown[]) => ctx.countRows(sql, ...params);

/** Every reference between the grant tables points at an existing row. */
async function expectNoOrphans() {
  expect(await count("SELECT count(*) AS n FROM access_tokens WHERE family_id NOT IN (SELECT id FROM token_families)")).toBe(0);
  expect(await count("SELECT count(*) AS n FROM refresh_tokens WHERE family_id NOT IN (SELECT id FROM token_families)")).toBe(0);
  expect(await count("SELECT count(*) AS n FROM access_tokens WHERE grant_id NOT IN (SELECT id FROM grants)")).toBe(0);
  expect(await count("SELECT count(*) AS n FROM refresh_tokens WHERE grant_id NOT IN (SELECT id FROM grants)")).toBe(0);
  expect(await count("SELECT count(*) AS n FROM token_families WHERE grant_id NOT IN (SELECT id FROM grants)")).toBe(0);
  expect(await count("SELECT count(*) AS n FROM authorization_codes WHERE grant_id NOT IN (SELECT id FROM grants)")).toBe(0);
  expect(await count("SELECT count(*) AS n FROM authorization_codes WHERE family_id IS NOT NULL AND family_id NOT IN (SELECT id FROM token_families)")).toBe(0);
  expect(await count("SELECT count(*) AS n FROM grant_tools WHERE grant_id NOT IN (SELECT id FROM grants)")).toBe(0);
  expect(await count("SELECT count(*) AS n FROM refresh_tokens WHERE replaced_by IS NOT NULL AND replaced_by NOT IN (SELECT token_hash FROM refresh_tokens)")).toBe(0);
  // PostgreSQL checks every foreign key on write; SQLite is asked.
  if (ctx.store.dialect === "sqlite") expect(ctx.store.sqlite.pragma("foreign_key_check")).toEqual([]);
}

const exchange = (clientId: string, code: string, verifier: string) =>
  postForm(server.url, "/token", { grant_type: "authorization_code", client_id: clientId, code, code_verifier: verifier, redirect_uri: REDIRECT });
const refresh = (clientId: string, token: string) => postForm(server.url, "/token", { grant_type: "refresh_token", client_id: clientId, refresh_token: token });

describe("50 parallel redemptions of one code", () => {
  it("one success, 49 invalid_grant, the success's tokens revoked (RFC 6749 §10.5), one family and one token of each kind", async () => {
    const { clientId } = await makeClient(ctx);
    const { code, verifier, grantId } = await issueCode(ctx, { clientId, ...world });
    const results = await Promise.all(Array.from({ length: 50 }, () => exchange(clientId, code, verifier)));
    const ok = results.filter((r) => r.status === 200);
    expect(ok).toHaveLength(1);
    expect(results.filter((r) => r.status === 400 && r.body?.error === "invalid_grant")).toHaveLength(49);
    expect(await verifyAccessToken(ctx, ok[0]!.body!.access_token as string)).toBeNull();
    expect((await refresh(clientId, ok[0]!.body!.refresh_token as string)).body?.error).toBe("invalid_grant");
    expect(await count("SELECT count(*) AS n FROM token_families WHERE grant_id = ?", grantId)).toBe(1);
    expect(await count("SELECT count(*) AS n FROM access_tokens WHERE grant_id = ?", grantId)).toBe(1);
    expect(await count("SELECT count(*) AS n FROM refresh_tokens WHERE grant_id = ?", grantId)).toBe(1);
    expect(await count("SELECT count(*) AS n FROM access_tokens WHERE grant_id = ? AND revoked_at IS NULL", grantId)).toBe(0);
    expect(await count("SELECT count(*) AS n FROM authorization_codes WHERE used_at IS NOT NULL")).toBe(1);
    await expectNoOrphans();
  });

  it("50 different codes of one grant redeemed at once all succeed, each in its own family", async () => {
    const { clientId } = await makeClient(ctx);
    const first = await issueCode(ctx, { clientId, ...world });
    const codes = [first, ...(await Promise.all(Array.from({ length: 49 }, () => issueCode(ctx, { clientId, ...world, grantId: first.grantId }))))];
    const results = await Promise.all(codes.map((c) => exchange(clientId, c.code, c.verifier)));
    expect(results.map((r) => r.status)).toEqual(Array(50).fill(200));
    expect(new Set(results.map((r) => r.body!.access_token)).size).toBe(50);
    expect(await count("SELECT count(*) AS n FROM token_families WHERE grant_id = ?", first.grantId)).toBe(50);
    expect(await count("SELECT count(DISTINCT family_id) AS n FROM access_tokens WHERE grant_id = ?", first.grantId)).toBe(50);
    await expectNoOrphans();
  });
});

describe("parallel refreshes with one refresh token (docs/decisions/004)", () => {
  async function pair() {
    const { clientId } = await makeClient(ctx);
    const { code, verifier, grantId } = await issueCode(ctx, { clientId, ...world });
    const res = await exchange(clientId, code, verifier);
    expect(res.status).toBe(200);
    return { clientId, grantId, access: res.body!.access_token as string, refresh: res.body!.refresh_token as string };
  }

  /** Refresh tokens of the grant that could still be exchanged: not rotated, not revoked. */
  const liveRefreshTokens = (grantId: string) =>
    count("SELECT count(*) AS n FROM refresh_tokens WHERE grant_id = ? AND rotated_at IS NULL AND revoked_at IS NULL", grantId);
  const grantRevoked = async (grantId: string) => (await count("SELECT count(*) AS n FROM grants WHERE id = ? AND revoked_at IS NOT NULL", grantId)) === 1;
  const REUSE = "The refresh token was already used; the authorization was revoked";
  const REPLACED = "The refresh token was replaced by a later refresh; the authorization was revoked";

  it("20 at once inside the grace window: all answered, exactly one successor live, the others refused at use", async () => {
    const p = await pair();
    const results = await Promise.all(Array.from({ length: 20 }, () => refresh(p.clientId, p.refresh)));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(await count("SELECT count(*) AS n FROM token_families WHERE grant_id = ?", p.grantId)).toBe(1);
    expect(await liveRefreshTokens(p.grantId)).toBe(1);
    // One chain: one successor's refresh token and access token are live, the other 19 pairs revoked.
    const live: typeof results = [];
    for (const r of results) if ((await verifyAccessToken(ctx, r.body!.access_token as string)) !== null) live.push(r);
    expect(live).toHaveLength(1);
    const stale = results.filter((r) => r !== live[0]);
    expect(await grantRevoked(p.grantId)).toBe(false);
    // The live successor keeps working (the chain goes on) ...
    const next = await refresh(p.clientId, live[0]!.body!.refresh_token as string);
    expect(next.status).toBe(200);
    // ... and every replaced one is refused; presenting one is reuse and ends the grant.
    const replays = await Promise.all(stale.map((r) => refresh(p.clientId, r.body!.refresh_token as string)));
    expect(replays.map((r) => r.status)).toEqual(Array(19).fill(400));
    expect(replays.some((r) => r.body!.error_description === REPLACED)).toBe(true);
    expect(await grantRevoked(p.grantId)).toBe(true);
    expect(await verifyAccessToken(ctx, next.body!.access_token as string)).toBeNull();
    expect(await liveRefreshTokens(p.grantId)).toBe(0);
    await expectNoOrphans();
  });

  it("20 at once, then a replaced successor used first: the grant ends and the live successor is refused too", async () => {
    const p = await pair();
    const results = await Promise.all(Array.from({ length: 20 }, () => refresh(p.clientId, p.refresh)));
    let live: (typeof results)[number] | undefined;
    for (const r of results) if (!live && (await verifyAccessToken(ctx, r.body!.access_token as string)) !== null) live = r;
    live = live!;
    const replaced = results.find((r) => r !== live)!;
    expect((await refresh(p.clientId, replaced.body!.refresh_token as string)).body!.error_description).toBe(REPLACED);
    expect((await refresh(p.clientId, live.body!.refresh_token as string)).body!.error).toBe("invalid_grant");
    expect(await verifyAccessToken(ctx, live.body!.access_token as string)).toBeNull();
    expect(await grantRevoked(p.grantId)).toBe(true);
  });

  it("a retry after a lost answer works, and the lost successor is dead", async () => {
    const p = await pair();
    const lost = await refresh(p.clientId, p.refresh); // the client never saw this answer
    expect(lost.status).toBe(200);
    ctx.advance(5_000);
    const retry = await refresh(p.clientId, p.refresh);
    expect(retry.status).toBe(200);
    expect(await verifyAccessToken(ctx, lost.body!.access_token as string)).toBeNull();
    expect(await verifyAccessToken(ctx, retry.body!.access_token as string)).not.toBeNull();
    expect(await liveRefreshTokens(p.grantId)).toBe(1);
    // The client goes on with the chain from its retry, well after the window.
    let token = retry.body!.refresh_token as string;
    for (let i = 0; i < 3; i++) {
      ctx.advance(60_000);
      const res = await refresh(p.clientId, token);
      expect(res.status).toBe(200);
      token = res.body!.refresh_token as string;
    }
    expect(await liveRefreshTokens(p.grantId)).toBe(1);
    expect(await grantRevoked(p.grantId)).toBe(false);
  });

  it("thief first, owner inside the window: the owner's retry kills the thief's successor, and the thief's next use ends the grant", async () => {
    const p = await pair();
    const thief = await refresh(p.clientId, p.refresh);
    ctx.advance(2_000);
    const owner = await refresh(p.clientId, p.refresh);
    expect(owner.status).toBe(200);
    expect(await verifyAccessToken(ctx, thief.body!.access_token as string)).toBeNull();
    expect(await verifyAccessToken(ctx, owner.body!.access_token as string)).not.toBeNull();
    expect(await liveRefreshTokens(p.grantId)).toBe(1);
    const thiefAgain = await refresh(p.clientId, thief.body!.refresh_token as string);
    expect(thiefAgain.body).toEqual({ error: "invalid_grant", error_description: REPLACED });
    expect(await grantRevoked(p.grantId)).toBe(true);
    expect((await refresh(p.clientId, owner.body!.refresh_token as string)).body!.error).toBe("invalid_grant");
    expect(await count("SELECT count(*) AS n FROM audit_events WHERE kind = 'refresh.reuse_detected' AND grant_id = ?", p.grantId)).toBe(1);
  });

  it("thief first and already onward, owner inside the window: the owner's retry is reuse and ends the grant", async () => {
    const p = await pair();
    const thief = await refresh(p.clientId, p.refresh);
    const thiefNext = await refresh(p.clientId, thief.body!.refresh_token as string);
    expect(thiefNext.status).toBe(200);
    const owner = await refresh(p.clientId, p.refresh);
    expect(owner.body).toEqual({ error: "invalid_grant", error_description: REUSE });
    expect(await verifyAccessToken(ctx, thiefNext.body!.access_token as string)).toBeNull();
    expect((await refresh(p.clientId, thiefNext.body!.refresh_token as string)).body!.error).toBe("invalid_grant");
  });

  it("owner first and onward, thief inside the window: the thief's use is reuse and ends the grant", async () => {
    const p = await pair();
    const owner = await refresh(p.clientId, p.refresh);
    const ownerNext = await refresh(p.clientId, owner.body!.refresh_token as string);
    expect(ownerNext.status).toBe(200);
    ctx.advance(1_000);
    const thief = await refresh(p.clientId, p.refresh);
    expect(thief.body).toEqual({ error: "invalid_grant", error_description: REUSE });
    expect(await grantRevoked(p.grantId)).toBe(true);
    expect(await verifyAccessToken(ctx, ownerNext.body!.access_token as string)).toBeNull();
  });

  it("owner first, thief inside the window before the owner goes on: the owner's next use ends the grant and the thief's chain", async () => {
    const p = await pair();
    const owner = await refresh(p.clientId, p.refresh);
    const thief = await refresh(p.clientId, p.refresh);
    expect(thief.status).toBe(200);
    expect(await liveRefreshTokens(p.grantId)).toBe(1);
    ctx.advance(10 * 60_000); // however late the owner comes back, the replaced token still gives the thief away
    const ownerNext = await refresh(p.clientId, owner.body!.refresh_token as string);
    expect(ownerNext.body).toEqual({ error: "invalid_grant", error_description: REPLACED });
    expect(await grantRevoked(p.grantId)).toBe(true);
    expect(await verifyAccessToken(ctx, thief.body!.access_token as string)).toBeNull();
    expect((await refresh(p.clientId, thief.body!.refresh_token as string)).body!.error).toBe("invalid_grant");
  });

  it("any order of uses, times and parallel bursts leaves at most one live refresh token, and one while the grant stands", async () => {
    const step = fc.record({ pick: fc.nat(), burst: fc.integer({ min: 1, max: 4 }), wait: fc.constantFrom(0, 0, 1_000, 20_000, 31_000) });
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 6 }), async (steps) => {
        const p = await pair();
        // Every refresh token the client (or a thief) ever held, in the order they got them.
        const held = [p.refresh];
        for (const s of steps) {
          ctx.advance(s.wait);
          const token = held[s.pick % held.length]!;
          const answers = await Promise.all(Array.from({ length: s.burst }, () => refresh(p.clientId, token)));
          for (const a of answers) if (a.status === 200) held.push(a.body!.refresh_token as string);
          const live = await liveRefreshTokens(p.grantId);
          expect(live).toBeLessThanOrEqual(1);
          if (!(await grantRevoked(p.grantId))) expect(live).toBe(1);
        }
      }),
      { numRuns: 25 },
    );
    await expectNoOrphans();
  });

  it("outside the grace window: every reuse is refused and the whole grant is revoked", async () => {
    const p = await pair();
    const rotated = await refresh(p.clientId, p.refresh);
    expect(rotated.status).toBe(200);
    ctx.advance(31_000);
    const results = await Promise.all(Array.from({ length: 20 }, () => refresh(p.clientId, p.refresh)));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(400));
    for (const r of results) expect(r.body!.error).toBe("invalid_grant");
    expect(await count("SELECT revoked_at IS NOT NULL AS n FROM grants WHERE id = ?", p.grantId)).toBe(1);
    expect(await count("SELECT count(*) AS n FROM token_families WHERE grant_id = ? AND revoked_at IS NULL", p.grantId)).toBe(0);
    expect(await count("SELECT count(*) AS n FROM access_tokens WHERE grant_id = ? AND revoked_at IS NULL", p.grantId)).toBe(0);
    expect(await verifyAccessToken(ctx, rotated.body!.access_token as string)).toBeNull();
    expect((await refresh(p.clientId, rotated.body!.refresh_token as string)).body!.error).toBe("invalid_grant");
    // Nothing was issued by the refused requests.
    expect(await count("SELECT count(*) AS n FROM refresh_tokens WHERE grant_id = ?", p.grantId)).toBe(2);
    await expectNoOrphans();
  });

  it("parallel revocations of one token: all 200, the family revoked once", async () => {
    const p = await pair();
    const results = await Promise.all(Array.from({ length: 20 }, () => postForm(server.url, "/revoke", { client_id: p.clientId, token: p.refresh })));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(await verifyAccessToken(ctx, p.access)).toBeNull();
    expect(await count("SELECT count(*) AS n FROM token_families WHERE grant_id = ?", p.grantId)).toBe(1);
    await expectNoOrphans();
  });
});
