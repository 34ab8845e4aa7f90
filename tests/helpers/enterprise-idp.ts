/**
 * A stand-in enterprise identity provider on 127.0.0.1, written with jose: an OpenID discovery
 * document (and RFC 8414 metadata), its JWKS, and a token endpoint doing the RFC 8693 exchange
 * that issues ID-JAGs. The "ID token" it accepts is the person's subject itself: validating real
 * ID tokens is the IdP's business, not Toolgate's. `mint` signs any ID-JAG a test wants.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from "jose";

export type StandInIdp = Awaited<ReturnType<typeof startEnterpriseIdp>>;

export async function startEnterpriseIdp() {
  const { publicKey, privateKey } = await generateKeyPair("RS256", { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: "idp-1", alg: "RS256", use: "sig" };
  const exchanges: Record<string, string>[] = [];
  let issuer = "";

  async function mint(claims: JWTPayload, header: Record<string, unknown> = {}, key: CryptoKey = privateKey) {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: issuer, iat: now, exp: now + 300, jti: crypto.randomUUID(), ...claims })
      .setProtectedHeader({ alg: "RS256", kid: "idp-1", typ: "oauth-id-jag+jwt", ...header })
      .sign(key);
  }

  const server = http.createServer((req, res) => {
    const send = (status: number, body: unknown) => res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(body));
    const metadata = {
      issuer,
      authorization_endpoint: `${issuer}/authorize`,
      token_endpoint: `${issuer}/token`,
      jwks_uri: `${issuer}/jwks`,
      response_types_supported: ["code"],
      subject_types_supported: ["public"],
      id_token_signing_alg_values_supported: ["RS256"],
      grant_types_supported: ["authorization_code", "urn:ietf:params:oauth:grant-type:token-exchange"],
    };
    if (req.url === "/.well-known/openid-configuration" || req.url === "/.well-known/oauth-authorization-server") return send(200, metadata);
    if (req.url === "/jwks") return send(200, { keys: [jwk] });
    if (req.url === "/token" && req.method === "POST") {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const p = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString("utf8")));
        exchanges.push(p);
        if (p.grant_type !== "urn:ietf:params:oauth:grant-type:token-exchange" || p.requested_token_type !== "urn:ietf:params:oauth:token-type:id-jag") {
          return send(400, { error: "unsupported_grant_type" });
        }
        // The IdP's policy: the ID-JAG names the Toolgate client the IdP maps this IdP client to.
        const toolgateClientId = toolgateClientFor.get(p.client_id ?? "");
        if (!toolgateClientId) return send(400, { error: "invalid_client" });
        void mint({ sub: p.subject_token, aud: p.audience, resource: p.resource, client_id: toolgateClientId, ...(p.scope ? { scope: p.scope } : {}) }).then(
          (grant) => send(200, { issued_token_type: "urn:ietf:params:oauth:token-type:id-jag", access_token: grant, token_type: "N_A", expires_in: 300, ...(p.scope ? { scope: p.scope } : {}) }),
        );
      });
      return;
    }
    send(404, { error: "not_found" });
  });
  const toolgateClientFor = new Map<string, string>();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    get issuer() {
      return issuer;
    },
    exchanges,
    mint,
    /** Which Toolgate client id the IdP names in ID-JAGs it issues to its client `idpClientId`. */
    mapClient(idpClientId: string, toolgateClientId: string) {
      toolgateClientFor.set(idpClientId, toolgateClientId);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
