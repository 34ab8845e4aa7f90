import type { OAuth2Tokens } from "arctic";
import type { Strategy } from "remix-auth/strategy";
import type { AppContext } from "~/context.server";
import type { AuthUser } from "../auth.server";
import { discover } from "../oidc-discovery.server";
import { isVerified, verifyIdToken } from "../oidc-id-token.server";
import { loadArctic } from "./arctic.server";
import { ProviderSignInError } from "./errors.server";
import type { Flow } from "./flow-cookie.server";
import { fetchJson, ProviderStrategy, type ProviderProfile, type ProviderVerifyParams } from "./strategy.server";

export type OidcOptions = { issuer: string; clientId: string; clientSecret: string; name: string };

/**
 * Any OpenID Connect issuer (Okta, Entra ID, Keycloak, Authentik...): endpoints from its discovery
 * document, arctic's generic OAuth2Client for the code exchange, the ID token checked with jose.
 */
export class OidcStrategy extends ProviderStrategy {
  override name = "oidc";
  readonly displayName: string;
  protected readonly usesNonce = true;

  constructor(
    ctx: AppContext,
    private readonly options: OidcOptions,
    verify: Strategy.VerifyFunction<AuthUser, ProviderVerifyParams>,
  ) {
    super(ctx, verify);
    this.displayName = options.name;
  }

  /** arctic's generic client, and its PKCE method names. */
  private async client() {
    const { OAuth2Client, CodeChallengeMethod } = await loadArctic();
    return { client: new OAuth2Client(this.options.clientId, this.options.clientSecret, this.redirectUri), CodeChallengeMethod };
  }

  async createAuthorizationURL(flow: Flow): Promise<URL> {
    const doc = await discover(this.options.issuer);
    const { client, CodeChallengeMethod } = await this.client();
    const url = client.createAuthorizationURLWithPKCE(
      doc.authorization_endpoint,
      flow.state,
      CodeChallengeMethod.S256,
      flow.codeVerifier,
      ["openid", "email", "profile"],
    );
    url.searchParams.set("nonce", flow.nonce!);
    return url;
  }

  protected async fetchProfile(code: string, flow: Flow, callbackUrl: URL): Promise<ProviderProfile> {
    const doc = await discover(this.options.issuer);
    // RFC 9207 §2.4: when the provider names itself in the response, it must be the issuer we
    // sent the browser to (mix-up attack defence).
    const iss = callbackUrl.searchParams.get("iss");
    if (iss !== null && iss !== doc.issuer) throw new ProviderSignInError("token", `callback iss ${iss} is not ${doc.issuer}`);
    const { client } = await this.client();
    const tokens = await client.validateAuthorizationCode(doc.token_endpoint, code, flow.codeVerifier);
    const claims = await verifyIdToken(idTokenOf(tokens), {
      issuer: doc.issuer,
      clientId: this.options.clientId,
      jwksUri: doc.jwks_uri,
      nonce: flow.nonce!,
      now: this.ctx.now(),
      algorithms: doc.id_token_signing_alg_values_supported,
    });
    let email = claims.email;
    let verified = claims.email_verified;
    let name = claims.name;
    // Some issuers (Entra ID, Keycloak by configuration) keep email out of the ID token; Core
    // §5.3.2 user info is then the source, and §5.3.4 says its sub must equal the ID token's.
    if (typeof email !== "string" && doc.userinfo_endpoint) {
      let accessToken: string;
      try {
        accessToken = tokens.accessToken();
      } catch (error) {
        throw new ProviderSignInError("token", "token response has no access_token", { cause: error });
      }
      const info = (await fetchJson(doc.userinfo_endpoint, accessToken)) as Record<string, unknown>;
      if (info.sub !== claims.sub) throw new ProviderSignInError("token", "user info sub differs from the ID token's");
      email = info.email;
      verified = info.email_verified;
      name = name ?? info.name;
    }
    if (typeof email !== "string" || !email.includes("@")) throw new ProviderSignInError("unverified", "no email from the issuer");
    return {
      provider: this.name,
      subject: claims.sub,
      email: email.trim().toLowerCase(),
      emailVerified: isVerified(verified),
      name: typeof name === "string" ? name.slice(0, 200) : null,
    };
  }
}

export function idTokenOf(tokens: OAuth2Tokens): string {
  try {
    return tokens.idToken();
  } catch (error) {
    throw new ProviderSignInError("token", "token response has no id_token", { cause: error });
  }
}
