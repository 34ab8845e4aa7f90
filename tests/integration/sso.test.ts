import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { eq } from "drizzle-orm";
import { createUser } from "~/auth/users.server";
import { csrfToken, getUser, sessionStorage } from "~/auth/session.server";
import { identities, invitations, users } from "~/db/schema";
import { action as startAction, loader as startLoader } from "~/routes/auth.$provider";
import { loader as callbackLoader } from "~/routes/auth.$provider.callback";
import { loader as signInLoader } from "~/routes/sign-in";
import { createTestContext, type TestContext } from "../helpers/context";
import { formRequest, loadContext } from "../helpers/http";
import { startOidcProvider, type TestOidcProvider } from "../helpers/oidc-provider";

const APP = "http://localhost:3000";
const CALLBACK = `${APP}/auth/oidc/callback`;

let idp: TestOidcProvider;
beforeAll(async () => {
  idp = await startOidcProvider({ redirectUris: [CALLBACK] });
});
afterAll(() => idp.close());

function contextFor(idp: TestOidcProvider, env: Record<string, string> = {}) {
  const ctx = createTestContext({
    TOOLGATE_OIDC_ISSUER: idp.issuer,
    TOOLGATE_OIDC_CLIENT_ID: idp.clientId,
    TOOLGATE_OIDC_CLIENT_SECRET: idp.clientSecret,
    TOOLGATE_OIDC_NAME: "Test IdP",
    TOOLGATE_ALLOWED_EMAIL_DOMAINS: "allowed.test",
    ...env,
  });
  // ID tokens carry the provider's real time; the app's clock must agree with it.
  ctx.setNow(Date.now());
  return ctx;
}

function cookiePair(setCookie: string): string {
  return setCookie.split(";")[0]!;
}

/** The browser's anonymous session cookie (sid) before signing in. */
async function anonymousSession(ctx: TestContext, sid = `planted-${Math.random()}`) {
  const session = await sessionStorage(ctx).getSession();
  session.set("sid", sid);
  return { cookie: cookiePair(await sessionStorage(ctx).commitSession(session)), sid };
}

/** Clicks "Sign in with Test IdP": returns the provider URL and the browser's cookies. */
async function start(ctx: TestContext, returnTo = "/authorize?request=abc") {
  const { cookie, sid } = await anonymousSession(ctx);
  const request = formRequest(`${APP}/auth/oidc`, { csrf: csrfToken(ctx, sid, "sign-in"), returnTo }, { Cookie: cookie, Origin: APP });
  const response = (await startAction({ request, context: loadContext(ctx), params: { provider: "oidc" } })) as Response;
  expect(response.status).toBe(302);
  const flowCookie = cookiePair(response.headers.get("Set-Cookie")!);
  return { authorizeUrl: response.headers.get("Location")!, cookies: `${cookie}; ${flowCookie}`, sid };
}

async function callback(ctx: TestContext, url: string, cookies: string) {
  const request = new Request(url, { headers: { Cookie: cookies } });
  return (await callbackLoader({ request, context: loadContext(ctx), params: { provider: "oidc" } })) as Response;
}

async function signInThroughProvider(ctx: TestContext, email: string | null, returnTo?: string) {
  const { authorizeUrl, cookies, sid } = await start(ctx, returnTo);
  const callbackUrl = await idp.complete(authorizeUrl, email);
  const response = await callback(ctx, callbackUrl, cookies);
  return { response, callbackUrl, cookies, sid };
}

async function signedInUser(ctx: TestContext, response: Response) {
  const sessionCookie = response.headers
    .getSetCookie()
    .map(cookiePair)
    .find((c) => c.startsWith("toolgate="));
  if (!sessionCookie) return null;
  return getUser(ctx, new Request(`${APP}/`, { headers: { Cookie: sessionCookie } }));
}

function expectRefused(response: Response, code: string, returnTo = "/authorize?request=abc") {
  expect(response.status).toBe(302);
  const location = new URL(response.headers.get("Location")!, APP);
  expect(location.pathname).toBe("/sign-in");
  expect(location.searchParams.get("error")).toBe(code);
  expect(location.searchParams.get("returnTo")).toBe(returnTo === "/" ? null : returnTo);
  expect(response.headers.getSetCookie().some((c) => c.startsWith("toolgate="))).toBe(false);
}

describe("OpenID Connect sign-in against a provider on 127.0.0.1", () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = contextFor(idp);
    idp.tamper = {};
  });
  afterEach(() => ctx.cleanup());

  it("starts with PKCE S256, state and nonce bound to a signed, HttpOnly, SameSite=Lax cookie", async () => {
    const { cookie, sid } = await anonymousSession(ctx);
    const request = formRequest(`${APP}/auth/oidc`, { csrf: csrfToken(ctx, sid, "sign-in"), returnTo: "/x" }, { Cookie: cookie });
    const response = (await startAction({ request, context: loadContext(ctx), params: { provider: "oidc" } })) as Response;
    const url = new URL(response.headers.get("Location")!);
    expect(url.origin + url.pathname).toBe(`${idp.issuer}/authorize`);
    expect(url.searchParams.get("redirect_uri")).toBe(CALLBACK);
    expect(url.searchParams.get("code_challenge_method")).toBe("S256");
    expect(url.searchParams.get("code_challenge")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(url.searchParams.get("state")!.length).toBeGreaterThanOrEqual(43);
    expect(url.searchParams.get("nonce")!.length).toBeGreaterThanOrEqual(43);
    expect(url.searchParams.get("scope")).toBe("openid email profile");
    const setCookie = response.headers.get("Set-Cookie")!;
    expect(setCookie).toMatch(/^toolgate-sso=/);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Lax/);
    expect(setCookie).toMatch(/Max-Age=600/);
    // The verifier never leaves the server except inside the signed cookie.
    expect(url.toString()).not.toContain("code_verifier");
  });

  it("an invited email signs in, gets a member account linked to the identity, and lands on returnTo", async () => {
    const email = "invited@elsewhere.test";
    await ctx.db.insert(invitations).values({ email, createdAt: ctx.now() });
    const person = idp.addUser({ email, name: "Invited Person" });
    const { response, sid } = await signInThroughProvider(ctx, email);
    expect(response.status).toBe(302);
    expect(response.headers.get("Location")).toBe("/authorize?request=abc");
    const user = await signedInUser(ctx, response);
    expect(user).toMatchObject({ email, role: "member", name: "Invited Person" });
    // Session fixation: the session id planted before sign-in is not the one signed in.
    const setCookie = response.headers.getSetCookie().find((c) => c.startsWith("toolgate="))!;
    expect((await sessionStorage(ctx).getSession(setCookie)).get("sid")).not.toBe(sid);
    // The flow cookie is single-use: cleared on the way out.
    expect(response.headers.getSetCookie().some((c) => /^toolgate-sso=;.*Max-Age=0/.test(c))).toBe(true);
    const linked = (await ctx.db.select().from(identities).where(eq(identities.userId, user!.id)));
    expect(linked).toMatchObject([{ provider: "oidc", subject: person.sub, email }]);
    expect((await ctx.db.select().from(invitations).where(eq(invitations.email, email)).limit(1))[0]).toBeUndefined();

    // The next sign-in finds the same account through the identity.
    const again = await signInThroughProvider(ctx, email);
    expect((await signedInUser(ctx, again.response))?.id).toBe(user!.id);
    expect((await ctx.db.select().from(users).where(eq(users.email, email)))).toHaveLength(1);
  });

  it("a verified email from an allowed domain creates a member account", async () => {
    idp.addUser({ email: "new.person@allowed.test" });
    const { response } = await signInThroughProvider(ctx, "new.person@allowed.test", "/");
    expect(response.headers.get("Location")).toBe("/");
    expect(await signedInUser(ctx, response)).toMatchObject({ email: "new.person@allowed.test", role: "member" });
  });

  it("refuses an email from a domain that is not allowed and not invited", async () => {
    idp.addUser({ email: "stranger@allowed.test.evil.test" });
    const { response } = await signInThroughProvider(ctx, "stranger@allowed.test.evil.test");
    expectRefused(response, "refused");
    expect((await ctx.db.select().from(users).where(eq(users.email, "stranger@allowed.test.evil.test")).limit(1))[0]).toBeUndefined();
  });

  it("refuses an unverified email even from an allowed domain", async () => {
    idp.addUser({ email: "unverified@allowed.test", email_verified: false });
    expectRefused((await signInThroughProvider(ctx, "unverified@allowed.test")).response, "unverified");
  });

  it("reads email from user info when the ID token leaves it out (sub must match)", async () => {
    idp.tamper = { emailOnlyInUserInfo: true };
    idp.addUser({ email: "info@allowed.test" });
    const { response } = await signInThroughProvider(ctx, "info@allowed.test");
    expect(await signedInUser(ctx, response)).toMatchObject({ email: "info@allowed.test" });
  });

  it("reports a cancelled sign-in at the provider (access_denied)", async () => {
    expectRefused((await signInThroughProvider(ctx, null)).response, "denied");
  });

  describe("RFC 6749 §10.12 state and the flow cookie", () => {
    it("refuses a tampered state", async () => {
      idp.addUser({ email: "s1@allowed.test" });
      const { authorizeUrl, cookies } = await start(ctx);
      const url = new URL(await idp.complete(authorizeUrl, "s1@allowed.test"));
      url.searchParams.set("state", url.searchParams.get("state")!.replace(/^./, (c) => (c === "A" ? "B" : "A")));
      expectRefused(await callback(ctx, url.toString(), cookies), "state");
    });

    it("refuses a callback in a browser that did not start the flow (login CSRF)", async () => {
      idp.addUser({ email: "s2@allowed.test" });
      const attacker = await start(ctx);
      const callbackUrl = await idp.complete(attacker.authorizeUrl, "s2@allowed.test");
      const victim = await start(ctx);
      const response = await callback(ctx, callbackUrl, victim.cookies);
      expectRefused(response, "state");
    });

    it("refuses a flow cookie whose signature does not match", async () => {
      idp.addUser({ email: "s3@allowed.test" });
      const { authorizeUrl, cookies } = await start(ctx);
      const callbackUrl = await idp.complete(authorizeUrl, "s3@allowed.test");
      const forged = cookies.replace(/toolgate-sso=([^;]+)/, (_, v: string) => {
        const [value] = decodeURIComponent(v).split(".");
        return `toolgate-sso=${encodeURIComponent(`${value}.forgedsignature`)}`;
      });
      expectRefused(await callback(ctx, callbackUrl, forged), "state", "/");
    });

    it("refuses a flow older than ten minutes", async () => {
      idp.addUser({ email: "s4@allowed.test" });
      const { authorizeUrl, cookies } = await start(ctx);
      const callbackUrl = await idp.complete(authorizeUrl, "s4@allowed.test");
      ctx.advance(10 * 60 * 1000 + 1);
      expectRefused(await callback(ctx, callbackUrl, cookies), "expired");
    });

    it("a replayed provider response never signs in twice (codes are single-use)", async () => {
      idp.addUser({ email: "s5@allowed.test" });
      const { response, callbackUrl, cookies } = await signInThroughProvider(ctx, "s5@allowed.test");
      expect(response.headers.get("Location")).toBe("/authorize?request=abc");
      expectRefused(await callback(ctx, callbackUrl, cookies), "token");
    });

    it("starts only from a POST carrying the sign-in form's CSRF token", async () => {
      const get = (await startLoader()) as Response;
      expect(get.headers.get("Location")).toBe("/sign-in");
      const { cookie } = await anonymousSession(ctx);
      const request = formRequest(`${APP}/auth/oidc`, { csrf: "0".repeat(64), returnTo: "/x" }, { Cookie: cookie });
      const response = (await startAction({ request, context: loadContext(ctx), params: { provider: "oidc" } })) as Response;
      expect(response.headers.get("Location")).toBe("/sign-in?error=form&returnTo=%2Fx");
      expect(response.headers.get("Set-Cookie")).toBeNull();
    });

    it("keeps returnTo on our own origin", async () => {
      idp.addUser({ email: "s6@allowed.test" });
      const { response } = await signInThroughProvider(ctx, "s6@allowed.test", "//evil.test/steal");
      expect(response.headers.get("Location")).toBe("/");
    });
  });

  describe("OpenID Connect Core §3.1.3.7 ID token validation", () => {
    const cases: Array<[string, () => void]> = [
      ["a signature from a key the issuer did not publish", () => (idp.tamper = { foreignKey: true })],
      ["another audience", () => (idp.tamper = { audience: "someone-else" })],
      ["another issuer", () => (idp.tamper = { issuer: "http://127.0.0.1:1/evil" })],
      ["an expired token", () => (idp.tamper = { expiresIn: -120 })],
      ["a nonce from another sign-in", () => (idp.tamper = { nonce: "n".repeat(43) })],
    ];
    for (const [what, tamper] of cases) {
      it(`refuses an ID token with ${what}`, async () => {
        const email = `t-${Math.random().toString(36).slice(2)}@allowed.test`;
        idp.addUser({ email });
        tamper();
        const { response } = await signInThroughProvider(ctx, email);
        expectRefused(response, "token");
        expect((await ctx.db.select().from(users).where(eq(users.email, email)).limit(1))[0]).toBeUndefined();
      });
    }

    it("refuses an ID token that is no longer fresh by our clock", async () => {
      idp.addUser({ email: "late@allowed.test" });
      const { authorizeUrl, cookies } = await start(ctx);
      const callbackUrl = await idp.complete(authorizeUrl, "late@allowed.test");
      // Past the token's 5-minute exp plus the 60 s leeway with 90 s to spare (the provider stamps
      // the token with its own clock a moment after our clock was set), inside the flow's 10 minutes.
      ctx.advance(7.5 * 60 * 1000);
      expectRefused(await callback(ctx, callbackUrl, cookies), "token");
    });
  });

  describe("linking a first provider sign-in to an existing account", () => {
    it("is refused when TOOLGATE_LINK_BY_EMAIL is off", async () => {
      await createUser(ctx, { email: "owner@company.test", password: "correct horse battery staple", role: "owner" });
      idp.addUser({ email: "owner@company.test" });
      expectRefused((await signInThroughProvider(ctx, "owner@company.test")).response, "exists");
      expect((await ctx.db.select().from(identities))).toHaveLength(0);
    });

    it("links to the account with the same verified email when TOOLGATE_LINK_BY_EMAIL is on", async () => {
      const linking = contextFor(idp, { TOOLGATE_LINK_BY_EMAIL: "true" });
      try {
        const owner = await createUser(linking, { email: "boss@company.test", password: "correct horse battery staple", role: "owner" });
        idp.addUser({ email: "boss@company.test" });
        const { authorizeUrl, cookies } = await start(linking);
        const response = await callback(linking, await idp.complete(authorizeUrl, "boss@company.test"), cookies);
        expect(await signedInUser(linking, response)).toMatchObject({ id: owner.id, role: "owner" });
        expect(await linking.db.select().from(identities).where(eq(identities.userId, owner.id))).toHaveLength(1);
      } finally {
        linking.cleanup();
      }
    });

    it("never links an unverified email, even when linking is on", async () => {
      const linking = contextFor(idp, { TOOLGATE_LINK_BY_EMAIL: "true" });
      try {
        await createUser(linking, { email: "victim@company.test", password: "correct horse battery staple" });
        idp.addUser({ email: "victim@company.test", email_verified: "false" });
        const { authorizeUrl, cookies } = await start(linking);
        const response = await callback(linking, await idp.complete(authorizeUrl, "victim@company.test"), cookies);
        expectRefused(response, "unverified");
        expect(await linking.db.select().from(identities)).toHaveLength(0);
      } finally {
        linking.cleanup();
      }
    });
  });

  it("the sign-in page shows a button per provider and the provider error message", async () => {
    await createUser(ctx, { email: "first@company.test", password: "correct horse battery staple", role: "owner" });
    const request = new Request(`${APP}/sign-in?error=state&returnTo=%2Fauthorize%3Frequest%3Dabc`);
    const response = (await signInLoader({ request, context: loadContext(ctx), params: {} })) as Response;
    const data = await response.json();
    expect(data.providers).toEqual([{ id: "oidc", name: "Test IdP" }]);
    expect(data.providerError).toBe("This sign-in attempt is no longer valid. Please try again.");
    expect(data.returnTo).toBe("/authorize?request=abc");
    const unknown = new Request(`${APP}/sign-in?error=%3Cscript%3E`);
    const other = await ((await signInLoader({ request: unknown, context: loadContext(ctx), params: {} })) as Response).json();
    expect(other.providerError).toBeNull();
  });
});
