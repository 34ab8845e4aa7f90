/** Account administration: what the owner's Users page and the `toolgate user ...` commands do. */
import { and, asc, count, eq, ne } from "drizzle-orm";
import type { AppContext } from "~/context.server";
import { hashPassword } from "~/utils/crypto.server";
import { requireUser } from "./session.server";
import { emailSchema, findUserByEmail, passwordSchema } from "./users.server";

export class AccountError extends Error {
  override name = "AccountError";
}

export type AccountSummary = {
  id: string;
  email: string;
  name: string | null;
  role: "owner" | "member";
  createdAt: number;
  serverCount: number;
};

export async function listUsers(ctx: AppContext): Promise<AccountSummary[]> {
  const { mcpServers, users } = ctx.store.tables;
  return (await ctx.db
    .select({
      id: users.id,
      email: users.email,
      name: users.name,
      role: users.role,
      createdAt: users.createdAt,
      serverCount: count(mcpServers.id),
    })
    .from(users)
    .leftJoin(mcpServers, eq(mcpServers.ownerId, users.id))
    .groupBy(users.id)
    .orderBy(asc(users.email)));
}

async function requireAccount(ctx: AppContext, email: string) {
  const user = await findUserByEmail(ctx, emailSchema.parse(email));
  if (!user) throw new AccountError(`No user has the email ${email.trim().toLowerCase()}`);
  return user;
}

/**
 * Removes an account and everything it owns (servers, tools, grants, tokens, sessions: the foreign
 * keys cascade). The last owner cannot be removed: someone must be able to manage the workspace.
 */
export async function removeUser(ctx: AppContext, email: string): Promise<{ id: string; email: string }> {
  const { users } = ctx.store.tables;
  const user = await requireAccount(ctx, email);
  await ctx.store.transaction(async (tx) => {
    if (user.role === "owner") {
      const others = (await tx
        .select({ n: count() })
        .from(users)
        .where(and(eq(users.role, "owner"), ne(users.id, user.id))).limit(1))[0]!.n;
      if (others === 0) throw new AccountError(`${user.email} is the only owner and cannot be removed`);
    }
    await tx.delete(users).where(eq(users.id, user.id));
    // IMMEDIATE: the "another owner remains" check and the delete hold the write lock together.
  });
  ctx.logger.info("user removed", { userId: user.id });
  return { id: user.id, email: user.email };
}

/** Sets a new password and signs the account out everywhere (its sessions are deleted). */
export async function resetPassword(ctx: AppContext, email: string, password: string): Promise<{ id: string; email: string }> {
  const { sessions, users } = ctx.store.tables;
  const user = await requireAccount(ctx, email);
  const hash = await hashPassword(passwordSchema.parse(password));
  await ctx.store.transaction(async (tx) => {
    await tx.update(users).set({ passwordHash: hash, updatedAt: ctx.now() }).where(eq(users.id, user.id));
    await tx.delete(sessions).where(eq(sessions.userId, user.id));
  });
  ctx.logger.info("password reset", { userId: user.id });
  return { id: user.id, email: user.email };
}

/** The signed-in workspace owner; anyone else gets the same 404 as for a page that does not exist. */
export async function requireOwner(ctx: AppContext, request: Request) {
  const user = await requireUser(ctx, request);
  if (user.role !== "owner") throw new Response("Not found", { status: 404 });
  return user;
}
