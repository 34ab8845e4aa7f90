import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ActionFunctionArgs, LoaderFunctionArgs } from "@remix-run/node";
import { listUsers } from "~/auth/accounts.server";
import { createUserSession, csrfToken, sessionStorage } from "~/auth/session.server";
import { createUser, findUserByEmail } from "~/auth/users.server";
import * as usersPage from "~/routes/users";
import * as removePage from "~/routes/users_.$userId.remove";
import { createServer, listServers } from "~/servers/servers.server";
import { createTestContext, type TestContext } from "../helpers/context";
import { formRequest, loadContext } from "../helpers/http";

const BASE = "http://localhost:3000";
type Browser = { cookie: string; csrf: string; userId: string };

async function signedIn(ctx: TestContext, email: string, role: "owner" | "member"): Promise<Browser> {
  const user = await createUser(ctx, { email, role });
  const cookie = (await createUserSession(ctx, new Request(BASE), user.id)).split(";")[0]!;
  const sid = (await sessionStorage(ctx).getSession(cookie)).get("sid")!;
  return { cookie, csrf: csrfToken(ctx, sid), userId: user.id };
}

async function run(fn: (a: LoaderFunctionArgs & ActionFunctionArgs) => unknown, ctx: TestContext, request: Request, params = {}) {
  try {
    const result = await fn({ request, context: loadContext(ctx), params } as LoaderFunctionArgs & ActionFunctionArgs);
    return result instanceof Response ? result : new Response(JSON.stringify(result));
  } catch (thrown) {
    if (thrown instanceof Response) return thrown;
    throw thrown;
  }
}

describe("Users page (owner only)", () => {
  let ctx: TestContext;
  let owner: Browser;
  let member: Browser;
  beforeEach(async () => {
    ctx = createTestContext();
    owner = await signedIn(ctx, "owner@example.test", "owner");
    member = await signedIn(ctx, "member@example.test", "member");
  });
  afterEach(() => ctx.cleanup());

  const post = (b: Browser, path: string, fields: Record<string, string>) =>
    formRequest(`${BASE}${path}`, { csrf: b.csrf, ...fields }, { Cookie: b.cookie });

  it("is a 404 for members, on every loader and action", async () => {
    expect((await run(usersPage.loader, ctx, new Request(`${BASE}/users`, { headers: { Cookie: member.cookie } }))).status).toBe(404);
    const add = await run(usersPage.action, ctx, post(member, "/users", { email: "x@example.test", password: "long enough password" }));
    expect(add.status).toBe(404);
    expect(await findUserByEmail(ctx, "x@example.test")).toBeNull();
    const remove = await run(removePage.action, ctx, post(member, `/users/${owner.userId}/remove`, {}), { userId: owner.userId });
    expect(remove.status).toBe(404);
    expect(await listUsers(ctx)).toHaveLength(2);
  });

  it("adds a user, refusing bad and duplicate emails and short passwords with 400", async () => {
    const bad = await run(usersPage.action, ctx, post(owner, "/users", { email: "not-an-email", password: "short", role: "member" }));
    expect(bad.status).toBe(400);
    expect((await bad.json()).errors).toEqual({ email: "Enter a valid email address", password: "Password must be at least 10 characters" });
    const dup = await run(usersPage.action, ctx, post(owner, "/users", { email: "Member@Example.test", password: "long enough password", role: "member" }));
    expect(dup.status).toBe(400);
    expect((await dup.json()).errors).toEqual({ email: "An account with this email already exists." });
    const ok = await run(usersPage.action, ctx, post(owner, "/users", { email: "new@example.test", password: "long enough password", role: "member" }));
    expect(ok.status).toBe(302);
    expect((await findUserByEmail(ctx, "new@example.test"))?.role).toBe("member");
  });

  it("removes a user with their servers, after a confirmation page; never the owner themself", async () => {
    await createServer(ctx, { ownerId: member.userId, name: "Member's" });
    const confirm = await run(removePage.loader, ctx, new Request(`${BASE}/users/${member.userId}/remove`, { headers: { Cookie: owner.cookie } }), { userId: member.userId });
    expect(confirm.status).toBe(200);
    const removed = await run(removePage.action, ctx, post(owner, `/users/${member.userId}/remove`, {}), { userId: member.userId });
    expect(removed.status).toBe(302);
    expect(await findUserByEmail(ctx, "member@example.test")).toBeNull();
    expect(await listServers(ctx, member.userId)).toEqual([]);
    const self = await run(removePage.action, ctx, post(owner, `/users/${owner.userId}/remove`, {}), { userId: owner.userId });
    expect(self.status).toBe(404);
  });
});
