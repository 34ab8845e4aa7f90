/** The periodic cleanup also removes expired browser sessions (app/oauth/cleanup.server.ts). */
import { afterEach, beforeEach, expect, it } from "vitest";
import { createUserSession, getUser } from "~/auth/session.server";
import { createUser } from "~/auth/users.server";
import { sessions } from "~/db/schema";
import { runOAuthCleanup } from "~/oauth/cleanup.server";
import { createTestContext, type TestContext } from "../helpers/context";

let ctx: TestContext;
beforeEach(async () => {
  ctx = createTestContext({ TOOLGATE_SESSION_TTL: "3600" });
});
afterEach(() => ctx.cleanup());

it("purges expired sessions and keeps live ones", async () => {
  const user = await createUser(ctx, { email: "sessions@example.test", password: null });
  await createUserSession(ctx, new Request("http://localhost:3000"), user.id);
  ctx.advance(30 * 60_000);
  const live = (await createUserSession(ctx, new Request("http://localhost:3000"), user.id)).split(";")[0]!;
  ctx.advance(31 * 60_000); // the first is now expired, the second has 29 minutes left
  expect((await ctx.db.select().from(sessions))).toHaveLength(2);
  expect((await runOAuthCleanup(ctx)).sessions).toBe(1);
  expect((await ctx.db.select().from(sessions))).toHaveLength(1);
  expect(await getUser(ctx, new Request("http://localhost:3000/", { headers: { Cookie: live } }))).toMatchObject({ id: user.id });
  expect((await runOAuthCleanup(ctx)).sessions).toBe(0);
});
