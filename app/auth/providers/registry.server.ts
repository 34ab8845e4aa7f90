import { Authenticator } from "remix-auth";
import type { Config } from "~/config.server";
import type { AppContext } from "~/context.server";
import type { AuthUser } from "../auth.server";
import { admitProviderUser } from "./admission.server";
import { GitHubStrategy } from "./github-strategy.server";
import { GoogleStrategy } from "./google-strategy.server";
import { OidcStrategy } from "./oidc-strategy.server";
import type { ProviderStrategy, ProviderVerifyParams } from "./strategy.server";

export type ProviderButton = { id: string; name: string };

/** The providers switched on by configuration, in the order the sign-in page shows them. */
export function configuredProviders(config: Config): ProviderButton[] {
  const p = config.identityProviders;
  const list: ProviderButton[] = [];
  if (p.oidc) list.push({ id: "oidc", name: p.oidc.name });
  if (p.google) list.push({ id: "google", name: "Google" });
  if (p.github) list.push({ id: "github", name: "GitHub" });
  return list;
}

const verify = (ctx: AppContext) => async ({ profile }: ProviderVerifyParams) => admitProviderUser(ctx, profile);

/** All configured provider strategies for one request, registered under their ids. */
export function createProviderAuthenticator(ctx: AppContext): Authenticator<AuthUser> {
  const authenticator = new Authenticator<AuthUser>();
  const p = ctx.config.identityProviders;
  if (p.oidc) authenticator.use(new OidcStrategy(ctx, p.oidc, verify(ctx)), "oidc");
  if (p.google) authenticator.use(new GoogleStrategy(ctx, p.google, verify(ctx)), "google");
  if (p.github) authenticator.use(new GitHubStrategy(ctx, p.github, verify(ctx)), "github");
  return authenticator;
}

/** The strategy for a provider id from the URL, or null when it is not configured. */
export function providerStrategy(ctx: AppContext, id: string | undefined): ProviderStrategy | null {
  if (!id || !/^[a-z]+$/.test(id)) return null;
  return createProviderAuthenticator(ctx).get<ProviderStrategy>(id);
}
