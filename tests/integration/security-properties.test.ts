/**
 * Property-based tests (fast-check) for the parsers and matchers a stranger's input reaches:
 * redirect URI matching and registration rules, scope parsing, the WWW-Authenticate challenge,
 * client metadata validation, the metadata-document URL rules and safeReturnTo.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { safeReturnTo } from "~/auth/session.server";
import { bearerChallenge } from "~/mcp/bearer.server";
import { checkScope } from "~/oauth/authorize.server";
import { parseClientMetadata } from "~/oauth/client-metadata.server";
import { OAuthError } from "~/oauth/errors.server";
import { checkClientIdUrl } from "~/oauth/metadata-document-fetch.server";
import { checkRedirectUriForRegistration, isLoopbackRedirectUri, redirectUriMatches } from "~/oauth/redirect-uri.server";
import { createTestContext, type TestContext } from "../helpers/context";

const RUNS = { numRuns: 400 };

// URL-ish pieces an attacker combines.
const piece = fc.constantFrom("/", "//", "\\", ".", "..", "%2F", "%2f", "%5C", "%2e", "@", ":", "?", "#", "evil.example", "client.example.test", "callback", "127.0.0.1", "localhost", "[::1]", ":8080", "\t", "\n", " ", "%00", "http:", "https:", "javascript:", "&", "=", "a", "A");
const urlish = fc.array(piece, { maxLength: 10 }).map((a) => a.join(""));
const anyString = fc.oneof(fc.string({ maxLength: 60 }), urlish, fc.webUrl({ withQueryParameters: true, withFragments: true }));

const hostLabel = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/);
const pathSeg = fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/);
const httpsUri = fc.tuple(hostLabel, hostLabel, fc.array(pathSeg, { minLength: 1, maxLength: 3 })).map(([a, b, p]) => `https://${a}.${b}.test/${p.join("/")}`);

describe("redirect URI matching (decision 006, RFC 9700 §4.1.3)", () => {
  it("a registered URI matches itself", async () => {
    fc.assert(fc.property(fc.array(httpsUri, { minLength: 1, maxLength: 4 }), fc.nat(), (list, i) => redirectUriMatches(list, list[i % list.length]!)), RUNS);
  });

  it("no variant of a non-loopback URI matches (case, trailing slash, query, userinfo, port, encoding, suffix)", async () => {
    const variant = fc.constantFrom(
      (u: string) => u.toUpperCase(),
      (u: string) => u.replace("https://", "HTTPS://"),
      (u: string) => `${u}/`,
      (u: string) => `${u}?x=1`,
      (u: string) => `${u}#f`,
      (u: string) => u.replace("https://", "https://user@"),
      (u: string) => u.replace(".test/", ".test:8443/"),
      (u: string) => u.replace(".test/", ".test:443/"),
      (u: string) => u.replace("https://", "http://"),
      (u: string) => u.replace(/\/([^/]+)$/, "/%2E/$1"),
      (u: string) => u.replace(/([a-z])$/, (c) => `%${c.charCodeAt(0).toString(16)}`),
      (u: string) => `${u}.evil.example`,
      (u: string) => u.replace("https://", "https://evil.example@"),
      (u: string) => u.replace(".test/", ".test.evil.example/"),
    );
    fc.assert(
      fc.property(httpsUri, variant, (uri, change) => {
        const changed = change(uri);
        fc.pre(changed !== uri);
        return !redirectUriMatches([uri], changed);
      }),
      RUNS,
    );
  });

  it("loopback: any port matches, but never another host, path or query (RFC 8252 §7.3)", async () => {
    const loopHost = fc.constantFrom("127.0.0.1", "localhost", "[::1]");
    fc.assert(
      fc.property(loopHost, loopHost, pathSeg, pathSeg, fc.integer({ min: 1, max: 65535 }), (h1, h2, p1, p2, port) => {
        const registered = `http://${h1}/${p1}`;
        expect(redirectUriMatches([registered], `http://${h1}:${port}/${p1}`)).toBe(true);
        expect(redirectUriMatches([registered], `http://${h2}:${port}/${p2}`)).toBe(h1 === h2 && p1 === p2);
        expect(redirectUriMatches([registered], `https://${h1}:${port}/${p1}`)).toBe(false);
      }),
      RUNS,
    );
  });

  it("whatever is requested, a match is an exact registered URI or a loopback URI differing only in port", async () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(httpsUri, anyString), { minLength: 1, maxLength: 3 }), anyString, (registered, requested) => {
        if (!redirectUriMatches(registered, requested)) return true;
        if (registered.includes(requested)) return true;
        expect(isLoopbackRedirectUri(requested)).toBe(true);
        const strip = (u: string) => u.replace(/^(http:\/\/(?:localhost|127\.0\.0\.1|\[::1\])):\d{1,5}/, "$1");
        expect(registered.map(strip)).toContain(strip(requested));
        return true;
      }),
      RUNS,
    );
  });

  it("registration accepts only absolute URIs without fragment, userinfo, whitespace, dangerous schemes or non-loopback http", async () => {
    fc.assert(
      fc.property(anyString, (uri) => {
        if (checkRedirectUriForRegistration(uri) !== null) return true;
        const url = new URL(uri);
        expect(uri).not.toMatch(/[\s\x00-\x1f\x7f#*]/);
        expect(url.username + url.password).toBe("");
        expect(["javascript:", "data:", "file:", "vbscript:", "blob:", "about:"]).not.toContain(url.protocol);
        if (url.protocol === "http:") expect(isLoopbackRedirectUri(uri)).toBe(true);
        return true;
      }),
      RUNS,
    );
  });
});

describe("scope parsing (RFC 6749 §3.3)", () => {
  it("returns a de-duplicated subset of mcp:tools or throws invalid_scope, nothing else", async () => {
    const scope = fc.oneof(fc.string({ maxLength: 40 }), fc.array(fc.constantFrom("mcp:tools", "admin", "", " ", "openid", "MCP:TOOLS", "mcp:tools\t"), { maxLength: 5 }).map((a) => a.join(" ")));
    fc.assert(
      fc.property(scope, (value) => {
        try {
          const result = checkScope(new URLSearchParams({ scope: value }));
          expect(result).toBe("mcp:tools");
        } catch (error) {
          expect(error).toBeInstanceOf(OAuthError);
          expect((error as OAuthError).code ?? (error as { error?: string }).error).toBe("invalid_scope");
        }
      }),
      RUNS,
    );
  });
});

describe("WWW-Authenticate challenge (RFC 6750 §3, RFC 9728 §5.1)", () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = createTestContext();
  });
  afterAll(() => ctx.cleanup());

  it("is always a valid header value with well-formed quoted auth-params", async () => {
    const failure = fc.record({ status: fc.constantFrom(401, 403), error: fc.option(fc.constantFrom("invalid_token", "insufficient_scope"), { nil: undefined }), description: fc.string({ maxLength: 80 }) });
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), failure, (serverId, f) => {
        const value = bearerChallenge(ctx, serverId, f);
        expect(() => new Headers({ "WWW-Authenticate": value })).not.toThrow();
        expect(value).not.toMatch(/[\r\n\x00]/);
        expect(value.startsWith("Bearer ")).toBe(true);
        // auth-param = token "=" quoted-string, comma separated; quoted strings hold no quote or backslash.
        expect(value).toMatch(/^Bearer [a-z_]+="[^"\\]*"(, [a-z_]+="[^"\\]*")*$/);
        const names = [...value.matchAll(/(?:^Bearer |", )([a-z_]+)="/g)].map((m) => m[1]);
        expect(names.slice(0, 2)).toEqual(["resource_metadata", "scope"]);
        if (f.error) expect(names).toEqual(["resource_metadata", "scope", "error", "error_description"]);
      }),
      RUNS,
    );
  });
});

describe("client metadata validation (RFC 7591 §2)", () => {
  it("anything accepted has valid redirect URIs, a clean bounded name and https URLs", async () => {
    const value = fc.oneof(fc.string({ maxLength: 30 }), fc.integer(), fc.boolean(), fc.constant(null), anyString);
    const metadata = fc.record(
      {
        client_name: fc.oneof(value, fc.string({ maxLength: 120 })),
        redirect_uris: fc.oneof(value, fc.array(fc.oneof(httpsUri, anyString, fc.constant("http://127.0.0.1/cb")), { minLength: 1, maxLength: 3 })),
        token_endpoint_auth_method: fc.oneof(value, fc.constantFrom("none", "client_secret_basic", "client_secret_post", "private_key_jwt")),
        grant_types: fc.oneof(value, fc.array(fc.constantFrom("authorization_code", "refresh_token", "implicit", "password"), { maxLength: 3 })),
        response_types: fc.oneof(value, fc.array(fc.constantFrom("code", "token"), { maxLength: 2 })),
        logo_uri: fc.oneof(value, httpsUri, anyString),
        client_uri: fc.oneof(value, httpsUri, anyString),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(metadata, (input) => {
        let m;
        try {
          m = parseClientMetadata(input, "client_secret_basic");
        } catch (error) {
          expect(error).toBeInstanceOf(OAuthError);
          return;
        }
        for (const uri of m.redirectUris) expect(checkRedirectUriForRegistration(uri)).toBeNull();
        if (m.clientName !== null) {
          expect(m.clientName.length).toBeLessThanOrEqual(100);
          expect(m.clientName).not.toMatch(/[\x00-\x1f\x7f]/);
        }
        if (m.logoUri !== null) expect(new URL(m.logoUri).protocol).toBe("https:");
        expect(m.grantTypes).toContain("authorization_code");
        expect(m.grantTypes.every((g) => g === "authorization_code" || g === "refresh_token")).toBe(true);
        expect(m.responseTypes.every((r) => r === "code")).toBe(true);
        expect(["none", "client_secret_basic", "client_secret_post"]).toContain(m.tokenEndpointAuthMethod);
      }),
      RUNS,
    );
  });
});

describe("Client ID Metadata Document URL rules", () => {
  it("accepts only https URLs with a path, no fragment, no credentials, no dot segments", async () => {
    fc.assert(
      fc.property(fc.oneof(anyString, httpsUri.chain((u) => urlish.map((s) => u + s))), (id) => {
        if (checkClientIdUrl(id) !== null) return;
        const url = new URL(id);
        expect(url.protocol).toBe("https:");
        expect(id).not.toContain("#");
        expect(url.username + url.password).toBe("");
        expect(url.pathname).not.toBe("/");
        expect(id.slice(url.origin.length)).not.toMatch(/\/\.\.?(\/|$|\?)/);
        expect(id.length).toBeLessThanOrEqual(2000);
      }),
      RUNS,
    );
  });
});

describe("safeReturnTo (no open redirect through returnTo)", () => {
  it("always yields a same-site path that a browser resolves to this host", async () => {
    fc.assert(
      fc.property(fc.oneof(anyString, urlish.map((s) => `/${s}`)), (value) => {
        const result = safeReturnTo(value);
        expect(result.startsWith("/")).toBe(true);
        expect(result.startsWith("//")).toBe(false);
        expect(result.startsWith("/\\")).toBe(false);
        expect(result).not.toMatch(/[\x00-\x1f\x7f\\]/);
        // Resolved the way a browser resolves a Location header against our origin.
        expect(new URL(result, "https://toolgate.example").host).toBe("toolgate.example");
        // And again after one more resolution (a client-side router may re-resolve it).
        expect(new URL(new URL(result, "https://toolgate.example").pathname, "https://toolgate.example").host).toBe("toolgate.example");
      }),
      { numRuns: 2000 },
    );
  });

  it("refuses the known bypasses", async () => {
    for (const bad of ["//evil.example", "/\\evil.example", "/.//evil.example", "/./\\evil.example", "/x/..//evil.example", "https://evil.example", "/%2F%2Fevil.example/../..//evil.example"]) {
      expect(new URL(safeReturnTo(bad), "https://toolgate.example").host, bad).toBe("toolgate.example");
    }
  });
});
