import http from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair } from "jose";
// @ts-expect-error -- oidc-provider ships JavaScript only and @types/oidc-provider is not installed.
import Provider from "oidc-provider";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { csrfToken, getUser, sessionStorage } from "~/auth/session.server";
import { action as startAction } from "~/routes/auth.$provider";
import { loader as callbackLoader } from "~/routes/auth.$provider.callback";
import { createTestContext } from "../helpers/context";
import { formRequest, loadContext } from "../helpers/http";

// Interoperability: the same OpenID Connect strategy against node-oidc-provider 9, a certified
// OpenID provider, on 127.0.0.1. Its defaults keep email out of the ID token (claims go to user
// info when an access token is issued), so this also proves the user-info path.
const APP = "http://localhost:3000";
const CALLBACK = `${APP}/auth/oidc/callback`;

let server: http.Server;
let issuer: string;

beforeAll(async () => {
  server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  const provider = new Provider(issuer, {
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: "interop", alg: "RS256", use: "sig" }] },
    ttl: { Interaction: 600, Session: 600, Grant: 600, AccessToken: 300, IdToken: 300, AuthorizationCode: 60 },
    clients: [
      {
        client_id: "toolgate",
        client_secret: "a-secret-long-enough-for-the-provider",
        redirect_uris: [CALLBACK],
        grant_types: ["authorization_code"],
        response_types: ["code"],
        token_endpoint_auth_method: "client_secret_basic",
      },
    ],
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
    cookies: { keys: ["test-cookie-key-0123456789"] },
    async findAccount(_ctx: unknown, sub: string) {
      return {
        accountId: sub,
        async claims() {
          return { sub, email: sub, email_verified: true, name: "Kim Provider" };
        },
      };
    },
  });
  server.on("request", provider.callback());
});

afterAll(
  () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
);

/** A browser's trip through the provider's own login and consent pages, with a cookie jar. */
async function throughProvider(authorizeUrl: string, login: string): Promise<string> {
  const jar = new Map<string, string>();
  let url = authorizeUrl;
  let init: RequestInit = {};
  for (let hop = 0; hop < 12; hop++) {
    const response = await fetch(url, {
      ...init,
      redirect: "manual",
      headers: { ...(init.headers as Record<string, string>), Cookie: [...jar].map(([k, v]) => `${k}=${v}`).join("; ") },
    });
    for (const c of response.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const [name, ...value] = pair!.split("=");
      jar.set(name!, value.join("="));
    }
    const location = response.headers.get("Location");
    if (location) {
      const next = new URL(location, url).toString();
      if (next.startsWith(CALLBACK)) return next;
      url = next;
      init = {};
      continue;
    }
    const html = await response.text();
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
    const prompt = /name="prompt" value="(\w+)"/.exec(html)?.[1];
    if (!action || !prompt) throw new Error(`unexpected provider page (${response.status}): ${html.slice(0, 300)}`);
    url = new URL(action, url).toString();
    const body = new URLSearchParams({ prompt, ...(prompt === "login" ? { login, password: "any" } : {}) });
    init = { method: "POST", body, headers: { "Content-Type": "application/x-www-form-urlencoded" } };
  }
  throw new Error("too many hops at the provider");
}

describe("interoperability with node-oidc-provider 9", () => {
  it("signs an allowed-domain person in through discovery, PKCE, a verified ID token and user info", async () => {
    const ctx = createTestContext({
      TOOLGATE_OIDC_ISSUER: issuer,
      TOOLGATE_OIDC_CLIENT_ID: "toolgate",
      TOOLGATE_OIDC_CLIENT_SECRET: "a-secret-long-enough-for-the-provider",
      TOOLGATE_ALLOWED_EMAIL_DOMAINS: "interop.test",
    });
    ctx.setNow(Date.now());
    try {
      const session = await sessionStorage(ctx).getSession();
      session.set("sid", "browser-sid");
      const cookie = (await sessionStorage(ctx).commitSession(session)).split(";")[0]!;
      const start = (await startAction({
        request: formRequest(`${APP}/auth/oidc`, { csrf: csrfToken(ctx, "browser-sid", "sign-in"), returnTo: "/connections" }, { Cookie: cookie }),
        context: loadContext(ctx),
        params: { provider: "oidc" },
      })) as Response;
      const flowCookie = start.headers.get("Set-Cookie")!.split(";")[0]!;
      const callbackUrl = await throughProvider(start.headers.get("Location")!, "kim@interop.test");
      expect(new URL(callbackUrl).searchParams.get("iss")).toBe(issuer);
      const response = (await callbackLoader({
        request: new Request(callbackUrl, { headers: { Cookie: `${cookie}; ${flowCookie}` } }),
        context: loadContext(ctx),
        params: { provider: "oidc" },
      })) as Response;
      expect(response.headers.get("Location")).toBe("/connections");
      const sessionCookie = response.headers.getSetCookie().find((c) => c.startsWith("toolgate="))!.split(";")[0]!;
      const user = await getUser(ctx, new Request(`${APP}/`, { headers: { Cookie: sessionCookie } }));
      expect(user).toMatchObject({ email: "kim@interop.test", role: "member", name: "Kim Provider" });
    } finally {
      ctx.cleanup();
    }
  });
});
