import type { OAuth2Tokens } from "arctic";
import type { Strategy } from "remix-auth/strategy";
import { z } from "zod";
import type { AppContext } from "~/context.server";
import type { AuthUser } from "../auth.server";
import { loadArctic } from "./arctic.server";
import { ProviderSignInError } from "./errors.server";
import type { Flow } from "./flow-cookie.server";
import { fetchJson, ProviderStrategy, type ProviderProfile, type ProviderVerifyParams } from "./strategy.server";

export const GITHUB_ENDPOINTS = {
  authorization: "https://github.com/login/oauth/authorize",
  token: "https://github.com/login/oauth/access_token",
  api: "https://api.github.com",
};

export type GitHubOptions = {
  clientId: string;
  clientSecret: string;
  allowedOrgs: string[];
  /** Only tests change these (a local stand-in for GitHub); configuration cannot. */
  endpoints?: typeof GITHUB_ENDPOINTS;
};

const userSchema = z.object({ id: z.number().int(), login: z.string(), name: z.string().nullable().optional() });
const emailsSchema = z.array(z.object({ email: z.string(), primary: z.boolean(), verified: z.boolean() }));
const membershipSchema = z.object({ state: z.string() });

const API_HEADERS = { Accept: "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28" };

/**
 * GitHub (plain OAuth 2.0, no ID token). arctic's GitHub class has no PKCE, which GitHub accepts
 * since 2025, so this uses arctic's OAuth2Client with GitHub's endpoints (decision 009). The
 * identity is the numeric user id (logins can be renamed); the email is the primary one and only
 * when GitHub marks it verified (/user/emails).
 */
export class GitHubStrategy extends ProviderStrategy {
  override name = "github";
  readonly displayName = "GitHub";
  protected readonly usesNonce = false;
  private readonly endpoints: typeof GITHUB_ENDPOINTS;

  constructor(
    ctx: AppContext,
    private readonly options: GitHubOptions,
    verify: Strategy.VerifyFunction<AuthUser, ProviderVerifyParams>,
  ) {
    super(ctx, verify);
    this.endpoints = options.endpoints ?? GITHUB_ENDPOINTS;
  }

  /** arctic's generic client, and its PKCE method names. */
  private async client() {
    const { OAuth2Client, CodeChallengeMethod } = await loadArctic();
    return { client: new OAuth2Client(this.options.clientId, this.options.clientSecret, this.redirectUri), CodeChallengeMethod };
  }

  /** read:org only when organisations are checked: private memberships are invisible without it. */
  get scopes(): string[] {
    return this.options.allowedOrgs.length > 0 ? ["read:user", "user:email", "read:org"] : ["read:user", "user:email"];
  }

  async createAuthorizationURL(flow: Flow): Promise<URL> {
    const { client, CodeChallengeMethod } = await this.client();
    return client.createAuthorizationURLWithPKCE(
      this.endpoints.authorization,
      flow.state,
      CodeChallengeMethod.S256,
      flow.codeVerifier,
      this.scopes,
    );
  }

  protected async fetchProfile(code: string, flow: Flow): Promise<ProviderProfile> {
    const { client } = await this.client();
    const tokens = await client.validateAuthorizationCode(this.endpoints.token, code, flow.codeVerifier);
    const accessToken = accessTokenOf(tokens);
    const user = parse(userSchema, await fetchJson(`${this.endpoints.api}/user`, accessToken, API_HEADERS), "/user");
    const emails = parse(emailsSchema, await fetchJson(`${this.endpoints.api}/user/emails`, accessToken, API_HEADERS), "/user/emails");
    const primary = emails.find((e) => e.primary);
    if (!primary) throw new ProviderSignInError("unverified", "GitHub account has no primary email");
    const organizations: string[] = [];
    for (const org of this.options.allowedOrgs) {
      if (await this.isActiveMember(accessToken, org)) organizations.push(org);
    }
    return {
      provider: this.name,
      subject: String(user.id),
      email: primary.email.trim().toLowerCase(),
      emailVerified: primary.verified,
      name: user.name?.slice(0, 200) ?? user.login,
      organizations,
    };
  }

  /** GET /user/memberships/orgs/{org}: 404 when not a member, state "pending" for an open invitation. */
  private async isActiveMember(accessToken: string, org: string): Promise<boolean> {
    const response = await fetch(`${this.endpoints.api}/user/memberships/orgs/${encodeURIComponent(org)}`, {
      headers: { Authorization: `Bearer ${accessToken}`, "User-Agent": "Toolgate", ...API_HEADERS },
      signal: AbortSignal.timeout(10_000),
    }).catch((error: unknown) => {
      throw new ProviderSignInError("provider", `GitHub membership check failed: ${String(error)}`, { cause: error });
    });
    if (response.status === 404 || response.status === 403) {
      await response.body?.cancel();
      return false;
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new ProviderSignInError("provider", `GitHub membership check answered ${response.status}`);
    }
    const membership = membershipSchema.safeParse(await response.json().catch(() => null));
    return membership.success && membership.data.state === "active";
  }
}

function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ProviderSignInError("provider", `unexpected GitHub ${what} response`);
  return parsed.data;
}

/**
 * GitHub answers a refused code with HTTP 200 and an `error` member, which arctic's generic client
 * passes through as tokens; bad_verification_code is GitHub's invalid_grant (used, expired, stolen).
 */
function accessTokenOf(tokens: OAuth2Tokens): string {
  const data = tokens.data as { error?: unknown };
  if (typeof data.error === "string") {
    throw new ProviderSignInError(data.error === "bad_verification_code" ? "token" : "provider", `GitHub token endpoint: ${data.error.slice(0, 100)}`);
  }
  try {
    return tokens.accessToken();
  } catch (error) {
    throw new ProviderSignInError("provider", "GitHub token response has no access_token", { cause: error });
  }
}
