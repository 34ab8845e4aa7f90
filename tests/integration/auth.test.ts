import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createUser } from "~/auth/users.server";
import { csrfToken, getUser, safeReturnTo, sessionStorage } from "~/auth/session.server";
import { THROTTLE } from "~/auth/throttle.server";
import { action as signInAction } from "~/routes/sign-in";
import { createTestContext, type TestContext } from "../helpers/context";
import { formRequest, loadContext } from "../helpers/http";

const PASSWORD = "correct horse battery staple";

async function anonymousCookie(ctx: TestContext, sid = "fixed-sid-planted-by-attacker") {
  const session = await sessionStorage(ctx).getSession();
  session.set("sid", sid);
  const cookie = await sessionStorage(ctx).commitSession(session);
  return { cookie: cookie.split(";")[0]!, sid };
}

async function postSignIn(ctx: TestContext, fields: Record<string, string>, address = "198.51.100.7") {
  const { cookie, sid } = await anonymousCookie(ctx);
  const request = formRequest(
    "http://localhost:3000/sign-in",
    { csrf: csrfToken(ctx, sid, "sign-in"), returnTo: "/servers/abc?x=1", ...fields },
    { Cookie: cookie },
  );
  const response = (await signInAction({ request, context: loadContext(ctx, address), params: {} })) as Response;
  return response;
}

describe("password sign-in", () => {
  let ctx: TestContext;
  beforeEach(async () => {
    ctx = createTestContext();
    await createUser(ctx, { email: "Ada@Example.test", password: PASSWORD });
  });
  afterEach(() => ctx.cleanup());

  it("signs in, rotates the session id and returns to the page the user came from", async () => {
    const response = await postSignIn(ctx, { email: "ada@example.test", password: PASSWORD });
    expect(response.status).toBe(302);
    expect(response.headers.get("Location")).toBe("/servers/abc?x=1");
    const setCookie = response.headers.get("Set-Cookie")!;
    const session = await sessionStorage(ctx).getSession(setCookie);
    expect(session.get("sid")).toBeTruthy();
    expect(session.get("sid")).not.toBe("fixed-sid-planted-by-attacker");
    const user = await getUser(ctx, new Request("http://localhost:3000/", { headers: { Cookie: setCookie.split(";")[0]! } }));
    expect(user?.email).toBe("ada@example.test");
  });

  it("refuses a wrong password with 401 and a message", async () => {
    const response = await postSignIn(ctx, { email: "ada@example.test", password: "wrong password!!" });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ formError: "Email or password is incorrect" });
  });

  it("refuses a post without the session's CSRF token", async () => {
    const { cookie } = await anonymousCookie(ctx);
    const request = formRequest(
      "http://localhost:3000/sign-in",
      { csrf: "0".repeat(64), email: "ada@example.test", password: PASSWORD },
      { Cookie: cookie },
    );
    const response = (await signInAction({ request, context: loadContext(ctx), params: {} })) as Response;
    expect(response.status).toBe(403);
  });

  it("slows down repeated failures for one account with 429 and Retry-After", async () => {
    for (let i = 0; i < THROTTLE.account.free; i++) {
      const r = await postSignIn(ctx, { email: "ada@example.test", password: `wrong-${i}-password` }, `203.0.113.${i}`);
      expect(r.status).toBe(401);
    }
    const blocked = await postSignIn(ctx, { email: "ada@example.test", password: PASSWORD }, "203.0.113.99");
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get("Retry-After"))).toBeGreaterThan(0);
    ctx.advance(60_000);
    const later = await postSignIn(ctx, { email: "ada@example.test", password: PASSWORD });
    expect(later.status).toBe(302);
  });

  it("slows down many failures from one address across accounts", async () => {
    for (let i = 0; i < THROTTLE.address.free; i++) {
      await postSignIn(ctx, { email: `nobody-${i}@example.test`, password: "wrong password!!" }, "192.0.2.1");
    }
    const blocked = await postSignIn(ctx, { email: "ada@example.test", password: PASSWORD }, "192.0.2.1");
    expect(blocked.status).toBe(429);
  });
});

describe("returnTo", () => {
  it.each([
    ["//evil.example", "/"],
    ["https://evil.example", "/"],
    ["/\\evil.example", "/"],
    ["/%5Cevil.example", "/%5Cevil.example"],
    ["javascript:alert(1)", "/"],
    ["/authorize?request=abc", "/authorize?request=abc"],
    ["/ok\nLocation: x", "/"],
    ["", "/"],
  ])("safeReturnTo(%j) is %j", (input, expected) => {
    expect(safeReturnTo(input)).toBe(expected);
  });
});
