import { redirect } from "@remix-run/node";
import { Strategy } from "remix-auth/strategy";
import type { AppContext } from "~/context.server";
import { safeEqual } from "~/utils/crypto.server";
import type { AuthUser } from "../auth.server";
import { safeReturnTo } from "../session.server";
import { loadArctic, loadedArctic } from "./arctic.server";
import { ProviderSignInError } from "./errors.server";
import { FLOW_TTL_SECONDS, parseFlow, serializeFlow, type Flow } from "./flow-cookie.server";

/** Who the provider says the person is. `email` is lower-cased; `emailVerified` per the provider. */
export type ProviderProfile = {
  provider: string;
  subject: string;
  email: string;
  emailVerified: boolean;
  name: string | null;
  /** GitHub only: which of the configured organisations the person is an active member of. */
  organizations?: string[];
};

export type ProviderVerifyParams = { profile: ProviderProfile; request: Request };

/**
 * A remix-auth v4 strategy for an OAuth 2.0 / OpenID Connect provider. The flow has two halves:
 * `authorizationRedirect()` starts it (called by the CSRF-checked POST /auth/:provider) and
 * `authenticate()` finishes it on /auth/:provider/callback, returning the user from `verify`.
 */
export abstract class ProviderStrategy extends Strategy<AuthUser, ProviderVerifyParams> {
  abstract override name: string;
  /** Shown on the sign-in button: "Sign in with <displayName>". */
  abstract readonly displayName: string;
  /** OpenID Connect providers get a nonce (Core §3.1.2.1); plain OAuth 2.0 ones (GitHub) do not. */
  protected abstract readonly usesNonce: boolean;

  constructor(
    protected readonly ctx: AppContext,
    verify: Strategy.VerifyFunction<AuthUser, ProviderVerifyParams>,
  ) {
    super(verify);
  }

  /** The exact redirect URI registered at the provider. */
  get redirectUri(): string {
    return `${this.ctx.config.publicUrl}/auth/${this.name}/callback`;
  }

  /** Builds the provider's authorization URL for this flow (with PKCE S256, state and nonce). */
  abstract createAuthorizationURL(flow: Flow): Promise<URL>;

  /** Exchanges the code and returns the verified profile. */
  protected abstract fetchProfile(code: string, flow: Flow, callbackUrl: URL): Promise<ProviderProfile>;

  /**
   * Starts a sign-in: fresh state, PKCE verifier and nonce, stored in the signed flow cookie so
   * only this browser can finish it (RFC 9700 §2.1.1, §4.7.1), then a redirect to the provider.
   */
  async authorizationRedirect(returnTo: string): Promise<Response> {
    const { generateCodeVerifier, generateState } = await loadArctic();
    const flow: Flow = {
      provider: this.name,
      state: generateState(),
      codeVerifier: generateCodeVerifier(),
      nonce: this.usesNonce ? generateState() : undefined,
      returnTo: safeReturnTo(returnTo),
      expiresAt: this.ctx.now() + FLOW_TTL_SECONDS * 1000,
    };
    const url = await this.createAuthorizationURL(flow);
    return redirect(url.toString(), { headers: { "Set-Cookie": await serializeFlow(this.ctx, flow) } });
  }

  async authenticate(request: Request): Promise<AuthUser> {
    const url = new URL(request.url);
    const flow = await parseFlow(this.ctx, request, this.name);
    const state = url.searchParams.get("state");
    // RFC 6749 §10.12: the response must carry the state this browser sent, or it belongs to
    // another browser's flow (login CSRF, injected code).
    if (!state || !safeEqual(state, flow.state)) throw new ProviderSignInError("state", "state does not match the flow cookie");
    const error = url.searchParams.get("error");
    if (error) {
      throw new ProviderSignInError(error === "access_denied" ? "denied" : "provider", `provider answered error=${error.slice(0, 100)}`);
    }
    const code = url.searchParams.get("code");
    if (!code) throw new ProviderSignInError("provider", "callback without code");
    let profile: ProviderProfile;
    try {
      profile = await this.fetchProfile(code, flow, url);
    } catch (e) {
      throw asProviderError(e);
    }
    if (!profile.emailVerified) throw new ProviderSignInError("unverified", `${this.name} email not verified`);
    return this.verify({ profile, request });
  }
}

/** arctic's errors, as the sign-in page's categories. Anything unknown stays a 500. */
export function asProviderError(error: unknown): unknown {
  if (error instanceof ProviderSignInError) return error;
  const arctic = loadedArctic();
  if (!arctic) return error;
  // RFC 6749 §5.2: invalid_grant is a used, expired or stolen code, or a wrong PKCE verifier.
  if (error instanceof arctic.OAuth2RequestError) {
    return new ProviderSignInError(error.code === "invalid_grant" ? "token" : "provider", `token endpoint: ${error.code}`, { cause: error });
  }
  if (
    error instanceof arctic.ArcticFetchError ||
    error instanceof arctic.UnexpectedResponseError ||
    error instanceof arctic.UnexpectedErrorResponseBodyError
  ) {
    return new ProviderSignInError("provider", `token endpoint: ${error.message}`, { cause: error });
  }
  return error;
}

/** A JSON GET with a bearer token, for user-info style endpoints. */
export async function fetchJson(url: string, accessToken: string, headers: Record<string, string> = {}): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, {
      headers: { Authorization: `Bearer ${accessToken}`, Accept: "application/json", "User-Agent": "Toolgate", ...headers },
      signal: AbortSignal.timeout(10_000),
    });
  } catch (error) {
    throw new ProviderSignInError("provider", `GET ${url} failed: ${String(error)}`, { cause: error });
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new ProviderSignInError("provider", `GET ${url} answered ${response.status}`);
  }
  try {
    return await response.json();
  } catch (error) {
    throw new ProviderSignInError("provider", `GET ${url} did not answer JSON`, { cause: error });
  }
}
