import { asc, eq } from "drizzle-orm";
import type { AppContext } from "~/context.server";
import { emailSchema, findUserByEmail } from "../users.server";

export class InvitationError extends Error {
  override name = "InvitationError";
}

/**
 * Invites an email: its first provider sign-in with that verified address creates a member
 * account (and uses the invitation up). Inviting twice is harmless.
 */
export async function inviteEmail(ctx: AppContext, rawEmail: string, invitedBy: string | null = null): Promise<{ email: string }> {
  const { invitations } = ctx.store.tables;
  const email = emailSchema.parse(rawEmail);
  if (await findUserByEmail(ctx, email)) throw new InvitationError(`${email} already has an account`);
  await ctx.db.insert(invitations).values({ email, invitedBy, createdAt: ctx.now() }).onConflictDoNothing();
  return { email };
}

export async function revokeInvitation(ctx: AppContext, rawEmail: string): Promise<boolean> {
  const { invitations } = ctx.store.tables;
  const email = emailSchema.parse(rawEmail);
  return (await ctx.db.delete(invitations).where(eq(invitations.email, email)).returning({ email: invitations.email })).length > 0;
}

export async function listInvitations(ctx: AppContext) {
  const { invitations } = ctx.store.tables;
  return (await ctx.db.select({ email: invitations.email, createdAt: invitations.createdAt }).from(invitations).orderBy(asc(invitations.email)));
}
