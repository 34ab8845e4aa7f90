import { and, eq } from "drizzle-orm";
import type { AppContext } from "~/context.server";
import type { Tx } from "~/db/store.server";
import { newId } from "~/utils/crypto.server";
import type { AuthUser } from "../auth.server";
import { createUser, findUserByEmail, UserExistsError } from "../users.server";
import { ProviderSignInError } from "./errors.server";
import type { ProviderProfile } from "./strategy.server";

/**
 * Decides who a verified provider identity signs in as, in this order:
 * 1. an identity already linked to an account: that account;
 * 2. an account with the same verified email: linked only when TOOLGATE_LINK_BY_EMAIL is on,
 *    because otherwise whoever controls that address at a provider would take over the account;
 * 3. no account yet: created (as a member) when the email was invited, its domain is in
 *    TOOLGATE_ALLOWED_EMAIL_DOMAINS, or (GitHub) the person is in a TOOLGATE_GITHUB_ALLOWED_ORGS org.
 * Anyone else is refused.
 */
export async function admitProviderUser(ctx: AppContext, profile: ProviderProfile): Promise<AuthUser> {
  const { identities, invitations } = ctx.store.tables;
  if (!profile.emailVerified) throw new ProviderSignInError("unverified", "email not verified");
  const now = ctx.now();
  const linked = (await ctx.db
    .select({ userId: identities.userId })
    .from(identities)
    .where(and(eq(identities.provider, profile.provider), eq(identities.subject, profile.subject))).limit(1))[0];
  if (linked) {
    await ctx.db
      .update(identities)
      .set({ lastSignInAt: now, email: profile.email })
      .where(and(eq(identities.provider, profile.provider), eq(identities.subject, profile.subject)));
    return { id: linked.userId };
  }

  const existing = await findUserByEmail(ctx, profile.email);
  if (existing) {
    if (!ctx.config.identityProviders.linkByEmail) {
      throw new ProviderSignInError("exists", `${profile.provider} identity for existing account ${existing.id}; linking by email is off`);
    }
    await link(ctx, existing.id, profile);
    ctx.logger.info("provider identity linked by email", { provider: profile.provider, user: existing.id });
    return { id: existing.id };
  }

  const invited = (await ctx.db.select().from(invitations).where(eq(invitations.email, profile.email)).limit(1))[0];
  const reason = invited
    ? "invitation"
    : domainAllowed(ctx, profile.email)
      ? "email domain"
      : profile.organizations?.length
        ? "organisation"
        : null;
  if (!reason) throw new ProviderSignInError("refused", `${profile.provider} sign-in refused for an uninvited email`);
  let user: { id: string };
  try {
    // The account, its identity and the used-up invitation are written together or not at all.
    user = await createUser(
      ctx,
      { email: profile.email, name: profile.name, role: "member" },
      {
        alsoWrite: async (tx, userId) => {
          await link(ctx, userId, profile, tx);
          if (invited) await tx.delete(invitations).where(eq(invitations.email, profile.email));
        },
      },
    );
  } catch (error) {
    // Two first sign-ins racing for the same address: the loser signs in to the winner's account
    // only under the same rule as any existing account.
    if (error instanceof UserExistsError) return admitProviderUser(ctx, profile);
    throw error;
  }
  ctx.logger.info("account created at first provider sign-in", { provider: profile.provider, user: user.id, reason });
  return { id: user.id };
}

async function link(ctx: AppContext, userId: string, profile: ProviderProfile, tx: Tx = ctx.db) {
  const { identities } = ctx.store.tables;
  const now = ctx.now();
  await tx
    .insert(identities)
    .values({ id: newId(), userId, provider: profile.provider, subject: profile.subject, email: profile.email, createdAt: now, lastSignInAt: now });
}

/** Exact domain match after the last "@": "a@example.com" is not admitted by "ample.com" or "com". */
export function domainAllowed(ctx: AppContext, email: string): boolean {
  const domain = email.slice(email.lastIndexOf("@") + 1).toLowerCase();
  return ctx.config.identityProviders.allowedEmailDomains.includes(domain);
}
