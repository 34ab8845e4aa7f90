import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "~/config.server";
import type { AuthUser } from "~/auth/auth.server";
import { GitHubStrategy } from "~/auth/providers/github-strategy.server";
import { GoogleStrategy } from "~/auth/providers/google-strategy.server";
import { admitProviderUser } from "~/auth/providers/admission.server";
import { configuredProviders, providerStrategy } from "~/auth/providers/registry.server";
import type { ProviderVerifyParams } from "~/auth/providers/strategy.server";
import { createTestContext, type TestContext } from "../helpers/context";

const GITHUB = { TOOLGATE_GITHUB_CLIENT_ID: "gh-client", TOOLGATE_GITHUB_CLIENT_SECRET: "gh-secret" };
const GOOGLE = { TOOLGATE_GOOGLE_CLIENT_ID: "g-client.apps.example", TOOLGATE_GOOGLE_CLIENT_SECRET: "g-secret" };

describe("configuration switches providers on", () => {
  it("lists a provider only when its id and secret are both set", async () => {
    expect(configuredProviders(parseConfig({}))).toEqual([]);
    expect(configuredProviders(parseConfig({ ...GITHUB, ...GOOGLE }))).toEqual([
      { id: "google", name: "Google" },
      { id: "github", name: "GitHub" },
    ]);
    const oidc = parseConfig({
      TOOLGATE_OIDC_ISSUER: "https://login.example.com/realms/acme",
      TOOLGATE_OIDC_CLIENT_ID: "toolgate",
      TOOLGATE_OIDC_CLIENT_SECRET: "s",
    });
    expect(configuredProviders(oidc)).toEqual([{ id: "oidc", name: "Single sign-on" }]);
  });

  it.each([
    [{ TOOLGATE_GITHUB_CLIENT_ID: "x" }, "TOOLGATE_GITHUB_CLIENT_SECRET"],
    [{ TOOLGATE_GOOGLE_CLIENT_SECRET: "x" }, "TOOLGATE_GOOGLE_CLIENT_ID"],
    [{ TOOLGATE_OIDC_CLIENT_ID: "x", TOOLGATE_OIDC_CLIENT_SECRET: "y" }, "TOOLGATE_OIDC_ISSUER"],
    [{ TOOLGATE_OIDC_ISSUER: "http://idp.example.com", TOOLGATE_OIDC_CLIENT_ID: "x", TOOLGATE_OIDC_CLIENT_SECRET: "y" }, "TOOLGATE_OIDC_ISSUER"],
    [{ TOOLGATE_OIDC_ISSUER: "https://idp.example.com/?x=1" }, "TOOLGATE_OIDC_ISSUER"],
    [{ TOOLGATE_ALLOWED_EMAIL_DOMAINS: "example.com,@evil" }, "TOOLGATE_ALLOWED_EMAIL_DOMAINS"],
    [{ TOOLGATE_GITHUB_ALLOWED_ORGS: "acme,not an org" }, "TOOLGATE_GITHUB_ALLOWED_ORGS"],
    [{ TOOLGATE_LINK_BY_EMAIL: "maybe" }, "TOOLGATE_LINK_BY_EMAIL"],
  ])("a bad value stops the start naming the variable (%o)", (env, name) => {
    expect(() => parseConfig(env)).toThrow(ConfigError);
    expect(() => parseConfig(env)).toThrow(name);
  });

  it("normalises the domain and organisation lists", async () => {
    const c = parseConfig({ TOOLGATE_ALLOWED_EMAIL_DOMAINS: " Example.COM, example.org ,", TOOLGATE_GITHUB_ALLOWED_ORGS: "Acme" });
    expect(c.identityProviders.allowedEmailDomains).toEqual(["example.com", "example.org"]);
    expect(c.identityProviders.linkByEmail).toBe(false);
    expect(parseConfig({}).identityProviders.allowedEmailDomains).toEqual([]);
  });

  it("an unconfigured provider has no strategy (its routes answer 404)", async () => {
    const ctx = createTestContext(GITHUB);
    try {
      expect(providerStrategy(ctx, "github")).toBeInstanceOf(GitHubStrategy);
      expect(providerStrategy(ctx, "google")).toBeNull();
      expect(providerStrategy(ctx, "__proto__")).toBeNull();
    } finally {
      ctx.cleanup();
    }
  });
});

describe("Google authorization URL", () => {
  it("asks accounts.google.com for a code with PKCE S256, state, nonce and our exact redirect URI", async () => {
    const ctx = createTestContext({ ...GOOGLE, PUBLIC_URL: "https://toolgate.example.com" });
    try {
      const strategy = providerStrategy(ctx, "google")!;
      expect(strategy).toBeInstanceOf(GoogleStrategy);
      const response = await strategy.authorizationRedirect("/authorize?request=r1");
      const url = new URL(response.headers.get("Location")!);
      expect(url.origin + url.pathname).toBe("https://accounts.google.com/o/oauth2/v2/auth");
      expect(Object.fromEntries(url.searchParams)).toMatchObject({
        response_type: "code",
        client_id: "g-client.apps.example",
        redirect_uri: "https://toolgate.example.com/auth/google/callback",
        code_challenge_method: "S256",
        scope: "openid email profile",
      });
      expect(url.searchParams.get("nonce")).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(url.searchParams.get("state")).toMatch(/^[A-Za-z0-9_-]{43}$/);
      // Behind https the flow cookie takes the __Host- prefix and the Secure flag.
      expect(response.headers.get("Set-Cookie")).toMatch(/^__Host-toolgate-sso=.*; Secure/);
    } finally {
      ctx.cleanup();
    }
  });
});

/** A stand-in for github.com and api.github.com on 127.0.0.1 with one signed-in person. */
function startFakeGitHub(person: { emails: Array<{ email: string; primary: boolean; verified: boolean }>; orgs: Record<string, string> }) {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!, "http://x");
    seen.push(`${req.method} ${url.pathname}`);
    let body = "";
    req.on("data", (c: Buffer) => (body += c));
    req.on("end", () => {
      const send = (status: number, value: unknown) => {
        res.writeHead(status, { "Content-Type": "application/json" });
        res.end(JSON.stringify(value));
      };
      if (url.pathname === "/login/oauth/access_token") {
        const form = new URLSearchParams(body);
        const basic = Buffer.from((req.headers.authorization ?? "").replace("Basic ", ""), "base64").toString();
        if (basic !== "gh-client:gh-secret" || form.get("code") !== "good-code" || !form.get("code_verifier")) {
          return send(200, { error: "bad_verification_code" });
        }
        return send(200, { access_token: "gho_test", token_type: "bearer", scope: "read:user,user:email" });
      }
      if (req.headers.authorization !== "Bearer gho_test") return send(401, { message: "Bad credentials" });
      if (url.pathname === "/user") return send(200, { id: 4242, login: "octo", name: "Octo Cat" });
      if (url.pathname === "/user/emails") return send(200, person.emails);
      const org = /^\/user\/memberships\/orgs\/(.+)$/.exec(url.pathname)?.[1];
      if (org && person.orgs[org]) return send(200, { state: person.orgs[org] });
      return send(404, { message: "Not Found" });
    });
  });
  return new Promise<{ base: string; seen: string[]; close(): void }>((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      resolve({ base, seen, close: () => server.close() });
    }),
  );
}

describe("GitHub (against a local stand-in for GitHub's endpoints)", () => {
  let ctx: TestContext;
  let github: Awaited<ReturnType<typeof startFakeGitHub>>;
  const person = {
    emails: [
      { email: "octo@users.noreply.example", primary: false, verified: true },
      { email: "Octo@Acme.test", primary: true, verified: true },
    ],
    orgs: { acme: "active", pending: "pending" } as Record<string, string>,
  };
  beforeAll(async () => {
    github = await startFakeGitHub(person);
  });
  afterAll(() => github.close());
  afterEach(() => ctx?.cleanup());

  function strategyFor(allowedOrgs: string[], env: Record<string, string> = {}) {
    ctx = createTestContext({ ...GITHUB, ...env });
    ctx.setNow(Date.now());
    const seen: ProviderVerifyParams[] = [];
    const strategy = new GitHubStrategy(
      ctx,
      {
        clientId: "gh-client",
        clientSecret: "gh-secret",
        allowedOrgs,
        endpoints: { authorization: `${github.base}/login/oauth/authorize`, token: `${github.base}/login/oauth/access_token`, api: github.base },
      },
      async (params): Promise<AuthUser> => {
        seen.push(params);
        return admitProviderUser(ctx, params.profile);
      },
    );
    return { strategy, seen };
  }

  async function roundTrip(strategy: GitHubStrategy, code = "good-code") {
    const start = await strategy.authorizationRedirect("/");
    const state = new URL(start.headers.get("Location")!).searchParams.get("state")!;
    const cookie = start.headers.get("Set-Cookie")!.split(";")[0]!;
    const callback = new Request(`http://localhost:3000/auth/github/callback?code=${code}&state=${state}`, { headers: { Cookie: cookie } });
    return strategy.authenticate(callback);
  }

  it("asks for read:org only when organisations are configured, always with PKCE", async () => {
    const { strategy } = strategyFor([]);
    const url = new URL((await strategy.authorizationRedirect("/")).headers.get("Location")!);
    expect(url.searchParams.get("scope")).toBe("read:user user:email");
    expect(url.searchParams.get("code_challenge_method")).toBe("S256");
    expect(url.searchParams.get("redirect_uri")).toBe("http://localhost:3000/auth/github/callback");
    expect(url.searchParams.get("nonce")).toBeNull();
    expect(strategyFor(["acme"]).strategy.scopes).toContain("read:org");
  });

  it("takes the primary verified email and the numeric id, and admits an active member of an allowed org", async () => {
    const { strategy, seen } = strategyFor(["acme", "pending"]);
    const user = await roundTrip(strategy);
    expect(seen[0]!.profile).toEqual({
      provider: "github",
      subject: "4242",
      email: "octo@acme.test",
      emailVerified: true,
      name: "Octo Cat",
      organizations: ["acme"],
    });
    expect(user.id).toBeTruthy();
  });

  it("refuses a person in no allowed org and no allowed domain", async () => {
    const { strategy } = strategyFor(["pending", "other"]);
    await expect(roundTrip(strategy)).rejects.toMatchObject({ code: "refused" });
  });

  it("admits by email domain without any org configured", async () => {
    const { strategy } = strategyFor([], { TOOLGATE_ALLOWED_EMAIL_DOMAINS: "acme.test" });
    await expect(roundTrip(strategy)).resolves.toMatchObject({ id: expect.any(String) });
  });

  it("refuses when the primary email is not verified", async () => {
    person.emails[1]!.verified = false;
    try {
      const { strategy } = strategyFor(["acme"]);
      await expect(roundTrip(strategy)).rejects.toMatchObject({ code: "unverified" });
    } finally {
      person.emails[1]!.verified = true;
    }
  });

  it("a code GitHub refuses (HTTP 200 with an error member) is refused, not a sign-in or a 500", async () => {
    const { strategy } = strategyFor(["acme"]);
    await expect(roundTrip(strategy, "stolen-code")).rejects.toMatchObject({ code: "token" });
  });
});
