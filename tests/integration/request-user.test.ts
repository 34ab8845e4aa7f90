import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createUser } from "~/auth/users.server";
import { createUserSession, destroyUserSession, getRequestUser, requireRequestUser } from "~/auth/session.server";
import { createTestContext, type TestContext } from "../helpers/context";
import { loadContext } from "../helpers/http";

const URL_ = "http://localhost/authorize?request=abc";

describe("getRequestUser: one session lookup per page load", () => {
  let ctx: TestContext;
  let cookie: string;
  let userId: string;

  beforeEach(async () => {
    ctx = createTestContext();
    userId = (await createUser(ctx, { email: `ru-${Math.random()}@example.test` })).id;
    cookie = (await createUserSession(ctx, new Request(URL_), userId)).split(";")[0]!;
  });
  afterEach(() => ctx.cleanup());

  const get = (c = cookie) => new Request(URL_, { headers: { Cookie: c } });

  it("answers the loaders of one request once, and each new request afresh", async () => {
    const context = loadContext(ctx);
    expect((await getRequestUser(context, get()))?.id).toBe(userId);
    // The session ends (elsewhere) while the page is being rendered: loaders of this request agree.
    await destroyUserSession(ctx, get());
    expect((await getRequestUser(context, get()))?.id).toBe(userId);
    // The next request (a new load context) sees the ended session.
    expect(await getRequestUser(loadContext(ctx), get())).toBeNull();
    await expect(requireRequestUser(loadContext(ctx), get())).rejects.toSatisfy(
      (r: Response) => r.status === 302 && r.headers.get("Location") === `/sign-in?returnTo=${encodeURIComponent("/authorize?request=abc")}`,
    );
  });

  it("never shares an answer across different cookies or with an action (POST)", async () => {
    const context = loadContext(ctx);
    expect(await getRequestUser(context, get("toolgate=forged"))).toBeNull();
    expect((await getRequestUser(context, get()))?.id).toBe(userId);

    const post = () => new Request(URL_, { method: "POST", headers: { Cookie: cookie } });
    const actionContext = loadContext(ctx);
    expect((await getRequestUser(actionContext, post()))?.id).toBe(userId);
    await destroyUserSession(ctx, get());
    // An action that ended the session is seen by the next lookup, also within the same request.
    expect(await getRequestUser(actionContext, post())).toBeNull();
    expect(await getRequestUser(actionContext, get())).toBeNull();
  });
});
