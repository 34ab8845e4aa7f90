import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";

/**
 * A small but real OpenID Connect provider on 127.0.0.1 for sign-in tests: discovery, JWKS,
 * an authorization endpoint with a login page (works without JavaScript), a token endpoint that
 * checks client authentication, redirect URI, single use of codes and PKCE S256, and user info.
 * `tamper` makes the next ID tokens wrong in one chosen way, to prove the relying party refuses them.
 */
export type IdpUser = { sub: string; email: string; email_verified?: boolean | string; name?: string };

export type Tamper = {
  /** Sign with a key that is not in the JWKS (same kid): a forged signature. */
  foreignKey?: boolean;
  audience?: string;
  issuer?: string;
  /** Seconds from issue to expiry (negative: already expired). */
  expiresIn?: number;
  /** Replace the nonce the client sent. */
  nonce?: string;
  /** Leave email claims out of the ID token (the relying party must then ask user info). */
  emailOnlyInUserInfo?: boolean;
};

type PendingAuthorization = {
  clientId: string;
  redirectUri: string;
  state: string;
  nonce?: string;
  codeChallenge: string;
  scope: string;
};

type IssuedCode = PendingAuthorization & { user: IdpUser; expiresAt: number };

export type TestOidcProvider = {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Redirect URIs the client registered; the authorization endpoint refuses any other. */
  redirectUris: string[];
  users: Map<string, IdpUser>;
  addUser(user: Partial<IdpUser> & { email: string }): IdpUser;
  tamper: Tamper;
  /** Paths requested so far, e.g. "POST /token". */
  requests: string[];
  /** What a person at the login page does: signs in as `email` (or cancels) and gets the callback URL. */
  complete(authorizeUrl: string, email: string | null): Promise<string>;
  close(): Promise<void>;
};

export async function startOidcProvider(
  options: { clientId?: string; clientSecret?: string; redirectUris?: string[] } = {},
): Promise<TestOidcProvider> {
  const keys = await generateKeyPair("RS256", { extractable: true });
  const foreign = await generateKeyPair("RS256", { extractable: true });
  const publicJwk: JWK = { ...(await exportJWK(keys.publicKey)), kid: "test-key-1", alg: "RS256", use: "sig" };
  const pending = new Map<string, PendingAuthorization>();
  const codes = new Map<string, IssuedCode>();
  const accessTokens = new Map<string, IdpUser>();
  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      res.writeHead(500, { "Content-Type": "text/plain" });
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const idp: TestOidcProvider = {
    issuer,
    clientId: options.clientId ?? `client-${randomBytes(4).toString("hex")}`,
    clientSecret: options.clientSecret ?? randomBytes(16).toString("base64url"),
    redirectUris: options.redirectUris ?? [],
    users: new Map(),
    tamper: {},
    requests: [],
    addUser(user) {
      const full: IdpUser = { sub: user.sub ?? `sub-${randomBytes(6).toString("hex")}`, email_verified: true, ...user };
      idp.users.set(full.email, full);
      return full;
    },
    async complete(authorizeUrl, email) {
      const page = await fetch(authorizeUrl);
      const html = await page.text();
      if (page.status !== 200) throw new Error(`authorization endpoint answered ${page.status}: ${html}`);
      const request = /name="request" value="([^"]+)"/.exec(html)?.[1];
      if (!request) throw new Error("no login form");
      const body = new URLSearchParams({ request, login: email ?? "", decision: email === null ? "cancel" : "continue" });
      const answer = await fetch(`${issuer}/authorize`, { method: "POST", body, redirect: "manual" });
      const location = answer.headers.get("Location");
      if (answer.status !== 302 || !location) throw new Error(`login answered ${answer.status}: ${await answer.text()}`);
      return location;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };

  async function signIdToken(code: IssuedCode): Promise<string> {
    const t = idp.tamper;
    const now = Math.floor(Date.now() / 1000);
    const claims: Record<string, unknown> = { name: code.user.name ?? null };
    if (!t.emailOnlyInUserInfo) Object.assign(claims, { email: code.user.email, email_verified: code.user.email_verified });
    const nonce = t.nonce ?? code.nonce;
    if (nonce !== undefined) claims.nonce = nonce;
    const key: CryptoKey = t.foreignKey ? foreign.privateKey : keys.privateKey;
    return new SignJWT(claims)
      .setProtectedHeader({ alg: "RS256", kid: publicJwk.kid, typ: "JWT" })
      .setIssuer(t.issuer ?? issuer)
      .setSubject(code.user.sub)
      .setAudience(t.audience ?? code.clientId)
      .setIssuedAt(now)
      .setExpirationTime(now + (t.expiresIn ?? 300))
      .sign(key);
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const url = new URL(req.url ?? "/", issuer);
    idp.requests.push(`${req.method} ${url.pathname}`);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      const text = typeof body === "string" ? body : JSON.stringify(body);
      res.writeHead(status, {
        "Content-Type": typeof body === "string" ? "text/html; charset=utf-8" : "application/json",
        "Cache-Control": "no-store",
        ...headers,
      });
      res.end(text);
    };
    const form = async () => new URLSearchParams(await readBody(req));

    if (req.method === "GET" && url.pathname === "/.well-known/openid-configuration") {
      return send(200, {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        userinfo_endpoint: `${issuer}/userinfo`,
        response_types_supported: ["code"],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: ["RS256"],
        code_challenge_methods_supported: ["S256"],
        token_endpoint_auth_methods_supported: ["client_secret_basic"],
        authorization_response_iss_parameter_supported: true,
      });
    }
    if (req.method === "GET" && url.pathname === "/jwks") return send(200, { keys: [publicJwk] });

    if (req.method === "GET" && url.pathname === "/authorize") {
      const p = url.searchParams;
      if (p.get("client_id") !== idp.clientId) return send(400, "<p>Unknown client</p>");
      const redirectUri = p.get("redirect_uri") ?? "";
      if (!idp.redirectUris.includes(redirectUri)) return send(400, "<p>Unregistered redirect_uri</p>");
      if (p.get("response_type") !== "code" || p.get("code_challenge_method") !== "S256" || !p.get("code_challenge")) {
        return send(400, "<p>Authorization code with PKCE S256 required</p>");
      }
      const id = randomBytes(12).toString("base64url");
      pending.set(id, {
        clientId: idp.clientId,
        redirectUri,
        state: p.get("state") ?? "",
        nonce: p.get("nonce") ?? undefined,
        codeChallenge: p.get("code_challenge")!,
        scope: p.get("scope") ?? "",
      });
      return send(
        200,
        `<!doctype html><html><head><title>Test identity provider</title></head><body>
<h1>Test identity provider</h1>
<form method="post" action="/authorize">
<input type="hidden" name="request" value="${id}">
<label for="login">Login</label> <input id="login" name="login" type="text">
<button type="submit" name="decision" value="continue">Continue</button>
<button type="submit" name="decision" value="cancel">Cancel</button>
</form></body></html>`,
      );
    }

    if (req.method === "POST" && url.pathname === "/authorize") {
      const f = await form();
      const request = pending.get(f.get("request") ?? "");
      if (!request) return send(400, "<p>Unknown or used request</p>");
      pending.delete(f.get("request")!);
      const back = new URL(request.redirectUri);
      back.searchParams.set("state", request.state);
      back.searchParams.set("iss", issuer);
      if (f.get("decision") !== "continue") {
        back.searchParams.set("error", "access_denied");
        return send(302, "", { Location: back.toString() });
      }
      const user = idp.users.get(f.get("login") ?? "");
      if (!user) return send(400, "<p>Unknown user</p>");
      const code = randomBytes(24).toString("base64url");
      codes.set(code, { ...request, user, expiresAt: Date.now() + 60_000 });
      back.searchParams.set("code", code);
      return send(302, "", { Location: back.toString() });
    }

    if (req.method === "POST" && url.pathname === "/token") {
      const f = await form();
      const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? "")?.[1];
      const [id, secret] = basic ? Buffer.from(basic, "base64").toString().split(":") : [];
      if (id !== idp.clientId || secret !== idp.clientSecret) return send(401, { error: "invalid_client" });
      if (f.get("grant_type") !== "authorization_code") return send(400, { error: "unsupported_grant_type" });
      const code = codes.get(f.get("code") ?? "");
      codes.delete(f.get("code") ?? "");
      if (!code || code.expiresAt < Date.now() || code.redirectUri !== f.get("redirect_uri")) {
        return send(400, { error: "invalid_grant" });
      }
      const challenge = createHash("sha256").update(f.get("code_verifier") ?? "").digest("base64url");
      if (challenge !== code.codeChallenge) return send(400, { error: "invalid_grant", error_description: "PKCE" });
      const accessToken = randomBytes(24).toString("base64url");
      accessTokens.set(accessToken, code.user);
      return send(200, {
        access_token: accessToken,
        token_type: "Bearer",
        expires_in: 300,
        id_token: await signIdToken(code),
      });
    }

    if (req.method === "GET" && url.pathname === "/userinfo") {
      const user = accessTokens.get(/^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1] ?? "");
      if (!user) return send(401, { error: "invalid_token" });
      return send(200, { sub: user.sub, email: user.email, email_verified: user.email_verified, name: user.name });
    }
    return send(404, { error: "not_found" });
  }

  return idp;
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (data += chunk));
    req.on("end", () => resolve(data));
    req.on("error", reject);
  });
}
