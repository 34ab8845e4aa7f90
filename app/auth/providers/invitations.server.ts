import { eq } from "drizzle-orm";
import type { AppContext } from "~/context.server";
import { invitations } from "~/db/schema";
import { emailSchema, findUserByEmail } from "../users.server";

export class InvitationError extends Error {
  override name = "InvitationError";
}

/**
 * Invites an email: its first provider sign-in with that verified address creates a member
 * account (and uses the invitation up). Inviting twice is harmless.
 */
export function inviteEmail(ctx: AppContext, rawEmail: string, invitedBy: string | null = null): { email: string } {
  const email = emailSchema.parse(rawEmail);
  if (findUserByEmail(ctx, email)) throw new InvitationError(`${email} already has an account`);
  ctx.db.insert(invitations).values({ email, invitedBy, createdAt: ctx.now() }).onConflictDoNothing().run();
  return { email };
}

export function revokeInvitation(ctx: AppContext, rawEmail: string): boolean {
  const email = emailSchema.parse(rawEmail);
  return ctx.db.delete(invitations).where(eq(invitations.email, email)).run().changes > 0;
}

export function listInvitations(ctx: AppContext) {
  return ctx.db.select({ email: invitations.email, createdAt: invitations.createdAt }).from(invitations).all();
}
