import type { Strategy } from "remix-auth/strategy";
import type { AppContext } from "~/context.server";
import type { AuthUser } from "../auth.server";
import { isVerified, verifyIdToken } from "../oidc-id-token.server";
import { loadArctic } from "./arctic.server";
import { ProviderSignInError } from "./errors.server";
import type { Flow } from "./flow-cookie.server";
import { idTokenOf } from "./oidc-strategy.server";
import { ProviderStrategy, type ProviderProfile, type ProviderVerifyParams } from "./strategy.server";

/** Google's published issuer values and key set (https://accounts.google.com/.well-known/openid-configuration). */
export const GOOGLE_ISSUERS = ["https://accounts.google.com", "accounts.google.com"];
export const GOOGLE_JWKS_URI = "https://www.googleapis.com/oauth2/v3/certs";

/** Google through arctic's Google client; the ID token is verified like any OpenID Connect one. */
export class GoogleStrategy extends ProviderStrategy {
  override name = "google";
  readonly displayName = "Google";
  protected readonly usesNonce = true;

  constructor(
    ctx: AppContext,
    private readonly options: { clientId: string; clientSecret: string },
    verify: Strategy.VerifyFunction<AuthUser, ProviderVerifyParams>,
  ) {
    super(ctx, verify);
  }

  /** arctic's Google client. */
  private async google() {
    const { Google } = await loadArctic();
    return new Google(this.options.clientId, this.options.clientSecret, this.redirectUri);
  }

  async createAuthorizationURL(flow: Flow): Promise<URL> {
    const url = (await this.google()).createAuthorizationURL(flow.state, flow.codeVerifier, ["openid", "email", "profile"]);
    url.searchParams.set("nonce", flow.nonce!);
    return url;
  }

  protected async fetchProfile(code: string, flow: Flow): Promise<ProviderProfile> {
    const tokens = await (await this.google()).validateAuthorizationCode(code, flow.codeVerifier);
    const claims = await verifyIdToken(idTokenOf(tokens), {
      issuer: GOOGLE_ISSUERS,
      clientId: this.options.clientId,
      jwksUri: GOOGLE_JWKS_URI,
      nonce: flow.nonce!,
      now: this.ctx.now(),
      algorithms: ["RS256"],
    });
    if (typeof claims.email !== "string") throw new ProviderSignInError("unverified", "Google sent no email");
    return {
      provider: this.name,
      subject: claims.sub,
      email: claims.email.trim().toLowerCase(),
      emailVerified: isVerified(claims.email_verified),
      name: typeof claims.name === "string" ? claims.name.slice(0, 200) : null,
    };
  }
}
