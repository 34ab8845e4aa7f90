/** Account administration: what the owner's Users page and the `toolgate user ...` commands do. */
import { and, asc, count, eq, ne } from "drizzle-orm";
import type { AppContext } from "~/context.server";
import { mcpServers, sessions, users } from "~/db/schema";
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

export function listUsers(ctx: AppContext): AccountSummary[] {
  return ctx.db
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
    .orderBy(asc(users.email))
    .all();
}

function requireAccount(ctx: AppContext, email: string) {
  const user = findUserByEmail(ctx, emailSchema.parse(email));
  if (!user) throw new AccountError(`No user has the email ${email.trim().toLowerCase()}`);
  return user;
}

/**
 * Removes an account and everything it owns (servers, tools, grants, tokens, sessions: the foreign
 * keys cascade). The last owner cannot be removed: someone must be able to manage the workspace.
 */
export function removeUser(ctx: AppContext, email: string): { id: string; email: string } {
  const user = requireAccount(ctx, email);
  ctx.db.transaction((tx) => {
    if (user.role === "owner") {
      const others = tx
        .select({ n: count() })
        .from(users)
        .where(and(eq(users.role, "owner"), ne(users.id, user.id)))
        .get()!.n;
      if (others === 0) throw new AccountError(`${user.email} is the only owner and cannot be removed`);
    }
    tx.delete(users).where(eq(users.id, user.id)).run();
    // IMMEDIATE: the "another owner remains" check and the delete hold the write lock together.
  }, { behavior: "immediate" });
  ctx.logger.info("user removed", { userId: user.id });
  return { id: user.id, email: user.email };
}

/** Sets a new password and signs the account out everywhere (its sessions are deleted). */
export async function resetPassword(ctx: AppContext, email: string, password: string): Promise<{ id: string; email: string }> {
  const user = requireAccount(ctx, email);
  const hash = await hashPassword(passwordSchema.parse(password));
  ctx.db.transaction((tx) => {
    tx.update(users).set({ passwordHash: hash, updatedAt: ctx.now() }).where(eq(users.id, user.id)).run();
    tx.delete(sessions).where(eq(sessions.userId, user.id)).run();
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
