/**
 * The consent screen shows what is true (docs/decisions/031-consent-screen-truth.md): client
 * display fields never carry characters that rearrange or hide the page's own text, redirect URIs
 * never name a scheme that opens a browser on another URL, and "Returns to" names what opens.
 * Registration over real HTTP (/register), metadata documents through the real validation, the
 * consent page's loader with real Requests on a real SQLite copy.
 */
import { randomBytes, createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createUserSession } from "~/auth/session.server";
import { createUser } from "~/auth/users.server";
import { oauthClients } from "~/db/schema";
import { resolveClient } from "~/oauth/clients.server";
import { checkRedirectUriForRegistration } from "~/oauth/redirect-uri.server";
import { presentClient } from "~/oauth/consent.server";
import { loader } from "~/routes/authorize";
import { createServer } from "~/servers/servers.server";
import { displayText, findUnsafeCharacter } from "~/utils/display-text";
import type { RunningServer } from "~/http/server.server";
import type { TestContext } from "../helpers/context";
import { loadContext } from "../helpers/http";
import { useOAuthWorld } from "./oauth-fixtures";

let ctx: TestContext;
let server: RunningServer;

useOAuthWorld({}, (w) => ({ ctx, server } = w));

const REDIRECT = "https://client.example.test/callback";

async function register(body: Record<string, unknown>) {
  const res = await fetch(`${server.url}/register`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
const base = { client_name: "Good App", redirect_uris: [REDIRECT], token_endpoint_auth_method: "none" };

// Every class: bidi embeddings/overrides/isolates and marks, zero-width, other format characters
// (soft hyphen, word joiner, invisible operators, BOM, tags), controls (C0, DEL, C1), line and
// paragraph separators, default-ignorable fillers, an unpaired surrogate of each half.
const BAD: [string, string][] = [
  ...["\u202A", "\u202B", "\u202C", "\u202D", "\u202E", "\u2066", "\u2067", "\u2068", "\u2069", "\u200E", "\u200F", "\u061C"].map((c): [string, string] => ["bidi", c]),
  ...["\u200B", "\u200C", "\u200D", "\uFEFF", "\u2060", "\u2061", "\u2062", "\u2063", "\u2064"].map((c): [string, string] => ["zero-width", c]),
  ["soft hyphen", "\u00AD"],
  ["Mongolian vowel separator", "\u180E"],
  ["tag character", "\u{E0041}"],
  ["interlinear annotation", "\uFFF9"],
  ["NUL", "\u0000"],
  ["ESC", "\u001B"],
  ["DEL", "\u007F"],
  ["C1 control", "\u0085"],
  ["line separator", "\u2028"],
  ["paragraph separator", "\u2029"],
  ["Hangul filler", "\u3164"],
  ["combining grapheme joiner", "\u034F"],
  ["lone high surrogate", "\uD800"],
  ["lone low surrogate", "\uDC00"],
];

const codePoint = (c: string) => `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;

describe("display fields refuse layout-changing and invisible characters (RFC 7591 §3.2.2 invalid_client_metadata)", () => {
  const fields: [string, (bad: string) => Record<string, unknown>][] = [
    ["client_name", (c) => ({ client_name: `Claude${c} Desktop` })],
    ["client_uri", (c) => ({ client_uri: `https://client.example.test/${c}` })],
    ["logo_uri", (c) => ({ logo_uri: `https://client.example.test/logo${c}.png` })],
    ["tos_uri", (c) => ({ tos_uri: `https://client.example.test/tos${c}` })],
    ["policy_uri", (c) => ({ policy_uri: `https://client.example.test/policy${c}` })],
    ["software_id", (c) => ({ software_id: `app${c}id` })],
    ["software_version", (c) => ({ software_version: `1.${c}0` })],
    ["contacts", (c) => ({ contacts: ["ok@example.test", `admin${c}@example.test`] })],
  ];
  for (const [field, patch] of fields) {
    it(`${field}: every class is refused with the field and the character named`, async () => {
      for (const [, c] of BAD) {
        const res = await register({ ...base, ...patch(c) });
        expect(res.status, `${field} with ${codePoint(c)}`).toBe(400);
        expect(res.body.error).toBe("invalid_client_metadata");
        expect(String(res.body.error_description)).toMatch(new RegExp(`^${field}`));
      }
    });
  }

  it("names the character it found", async () => {
    const res = await register({ ...base, client_name: "Evil\u202Eresu" });
    expect(res.body).toEqual({
      error: "invalid_client_metadata",
      error_description: "client_name must not contain control, formatting, direction or invisible characters (found U+202E)",
    });
  });

  it("refuses the same characters in redirect URIs (invalid_redirect_uri)", async () => {
    for (const [, c] of BAD) {
      const res = await register({ ...base, redirect_uris: [`https://client.example.test/cb${c}`] });
      expect(res.status, codePoint(c)).toBe(400);
      expect(res.body.error).toBe("invalid_redirect_uri");
    }
  });

  it("accepts names in every script, with accents, emoji and variation selectors", async () => {
    for (const name of ["Zoë’s Agent", "ΚΛΩΔ", "Клиент", "עוזר", "مساعد", "सहायक", "助手アプリ", "Agent ❤️", "Ünïcödé Ågent 🚀"]) {
      const res = await register({ ...base, client_name: name });
      expect(res.status, name).toBe(201);
      expect(res.body.client_name).toBe(name);
    }
  });

  it("refuses stacked combining marks (they draw over the lines around the name)", async () => {
    const res = await register({ ...base, client_name: `Z${"\u0300\u0301\u0302\u0303\u0304\u0305".repeat(3)}algo` });
    expect(res.body.error).toBe("invalid_client_metadata");
  });

  it("any format, control or surrogate character anywhere in any display string is found (property)", async () => {
    const unsafe = fc.oneof(
      fc.constantFrom(...BAD.map(([, c]) => c)),
      fc.integer({ min: 0, max: 0x10ffff }).map((n) => String.fromCodePoint(n)).filter((c) => /[\p{Cf}\p{Cc}\p{Cs}]/u.test(c)),
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), unsafe, fc.string({ maxLength: 30 }), (before, c, after) => {
        const text = before + c + after;
        expect(findUnsafeCharacter(text)).not.toBeNull();
        expect(findUnsafeCharacter(displayText(text))).toBeNull();
      }),
      { numRuns: 500 },
    );
  });
});

describe("browser-launcher redirect schemes are refused (invalid_redirect_uri)", () => {
  const launchers = [
    "microsoft-edge:https://evil.example/phish",
    "microsoft-edge:http://evil.example/",
    "microsoft-edge://evil.example/",
    "Microsoft-Edge:https://evil.example/",
    "microsoft-edge-holographic:https://evil.example/",
    "microsoft-edge-https://evil.example/",
    "x-safari-https://evil.example/",
    "x-safari-http://evil.example/",
    "googlechrome://evil.example/",
    "googlechromes://evil.example/",
    "googlechrome-x-callback://x-callback-url/open/?url=https%3A%2F%2Fevil.example",
    "firefox://open-url?url=https%3A%2F%2Fevil.example",
    "firefox:https://evil.example/",
    "opera://evil.example/",
    "opera-https://evil.example/",
    "brave://open-url?url=https://evil.example",
    "x-web-search://?evil",
    "intent://evil.example/",
    "android-app://com.evil/https/evil.example/",
    "samsunginternet://com.sec.android.app.sbrowser://https://evil.example",
    "search-ms:query=x&crumb=location:\\\\evil.example\\share",
    "ms-appinstaller:?source=https://evil.example/app.msix",
    // Any other scheme whose rest is, or carries, a URL.
    "com.example.app:https://evil.example/",
    "com.example.app://https://evil.example/",
    "com.example.app:///https://evil.example/",
    "myapp://x-other-browser://evil.example",
    "myapp:/open?u=https://evil.example",
    "myapp:/open?u=https%3A%2F%2Fevil.example",
    "myapp:/open?u=https%253A%252F%252Fevil.example",
    "myapp:HTTPS://evil.example",
    "myapp:javascript:alert(1)",
    "web+evil://anything",
  ];
  it.each(launchers)("%s", async (uri) => {
    const res = await register({ ...base, redirect_uris: [uri] });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe("invalid_redirect_uri");
  });

  it("names the scheme in the error", async () => {
    const res = await register({ ...base, redirect_uris: ["microsoft-edge:https://evil.example/"] });
    expect(res.body.error_description).toBe(
      "The microsoft-edge scheme opens a browser or another program, not an app's redirect; it is not allowed in a redirect URI",
    );
  });

  it.each([
    "cursor://anysphere.cursor-retrieval/oauth/callback",
    "com.example.app:/oauth2redirect",
    "com.example.app://callback/path?x=1",
    "vscode://vscode.github-authentication/did-authenticate",
    "claude://claude.ai/oauth/callback",
  ])("still accepts the app link %s", async (uri) => {
    expect((await register({ ...base, redirect_uris: [uri] })).status).toBe(201);
  });

  it("a metadata document naming a launcher redirect or a bidi name is not used", async () => {
    const clientId = "https://agent.example.test/client.json";
    for (const patch of [{ redirect_uris: ["microsoft-edge:https://evil.example/"] }, { client_name: "Agent\u202E" }]) {
      const fetcher = async () => ({ document: { client_id: clientId, client_name: "Agent", redirect_uris: [REDIRECT], ...patch }, cacheSeconds: 300 });
      expect(await resolveClient(ctx, clientId, fetcher)).toBeNull();
      ctx.advance(60_001);
    }
  });
});

describe("/authorize refuses stored clients from before the rules", () => {
  async function signedIn() {
    const user = await createUser(ctx, { email: `u-${randomBytes(4).toString("hex")}@example.test`, password: null });
    const cookie = (await createUserSession(ctx, new Request("http://localhost:3000"), user.id)).split(";")[0]!;
    const { server: mcp } = await createServer(ctx, { ownerId: user.id, name: "Weather", tools: [] });
    return { cookie, serverId: mcp.id };
  }
  async function oldClient(redirectUri: string, clientName = "Old App") {
    const id = `old-${randomBytes(6).toString("hex")}`;
    await ctx.db
      .insert(oauthClients)
      .values({ id, kind: "registered", tokenEndpointAuthMethod: "none", clientName, redirectUris: JSON.stringify([redirectUri]), metadata: "{}", createdAt: ctx.now() });
    return id;
  }
  const authorizeUrl = (clientId: string, redirectUri: string, serverId: string) => {
    const verifier = randomBytes(32).toString("base64url");
    const query = new URLSearchParams({
      response_type: "code",
      client_id: clientId,
      redirect_uri: redirectUri,
      code_challenge: createHash("sha256").update(verifier).digest("base64url"),
      code_challenge_method: "S256",
      state: "s",
      resource: `http://localhost:3000/mcp/${serverId}`,
    });
    return `http://localhost:3000/authorize?${query}`;
  };
  async function get(url: string, cookie: string) {
    try {
      return (await loader({ request: new Request(url, { headers: { Cookie: cookie } }), context: loadContext(ctx), params: {} })) as Response;
    } catch (error) {
      if (error instanceof Response) return error;
      throw error;
    }
  }

  it("a browser-launcher redirect stored earlier is shown as an error on our page, never redirected to", async () => {
    const { cookie, serverId } = await signedIn();
    for (const uri of ["microsoft-edge:https://evil.example/cb", "com.example.app:https://evil.example/cb"]) {
      const clientId = await oldClient(uri);
      const res = await get(authorizeUrl(clientId, uri, serverId), cookie);
      expect(res.status).toBe(400);
      expect(res.headers.get("Location")).toBeNull();
      const data = await res.json();
      // The message keeps its exact words; the address and why it is refused are shown below it.
      expect(data.message).toBe("The application redirect URL is no longer valid.");
      expect(data.requestedRedirectUri).toBe(uri);
      expect(data.redirectReason).toMatch(/\S/);
    }
  });

  it("a stored name with bidi controls reaches the page (and its data) with each such character replaced", async () => {
    const { cookie, serverId } = await signedIn();
    const clientId = await oldClient(REDIRECT, "Evil\u202E revres");
    const start = await get(authorizeUrl(clientId, REDIRECT, serverId), cookie);
    expect(start.status).toBe(302);
    const page = await get(`http://localhost:3000${start.headers.get("Location")}`, cookie);
    const data = await page.json();
    expect(data.client.name).toBe("Evil\uFFFD revres");
  });
});

describe('"Returns to" names what the browser opens', () => {
  const client = { id: "c", kind: "registered" as const, clientName: "App", clientUri: null, logoUri: null, redirectUris: [], tokenEndpointAuthMethod: "none" as const, grantTypes: [] };
  it.each([
    ["https://client.example.test/cb", "web", "client.example.test", null],
    ["https://Client.Example.TEST:8443/cb", "web", "client.example.test:8443", null],
    ["https://bücher.example/cb", "web", "xn--bcher-kva.example", null],
    ["http://127.0.0.1:40001/callback", "loopback", "127.0.0.1:40001", "40001"],
    ["http://localhost/callback", "loopback", "localhost", "80"],
    ["http://[::1]:5000/cb", "loopback", "[::1]:5000", "5000"],
    ["com.example.app:/cb", "app", "com.example.app:", null],
    ["cursor://anysphere.cursor-retrieval/oauth/callback", "app", "cursor:", null],
  ])("%s → %s %s", (uri, kind, host, port) => {
    expect(checkRedirectUriForRegistration(uri)).toBeNull();
    expect(presentClient(client, uri)).toMatchObject({ redirectKind: kind, redirectHost: host, redirectPort: port });
  });

  it("every redirect URI registration accepts is described as web, loopback or app with a host, port or scheme (property)", async () => {
    const uri = fc.oneof(
      fc.webUrl({ validSchemes: ["https"], withQueryParameters: true }),
      fc.tuple(fc.constantFrom("localhost", "127.0.0.1", "[::1]"), fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }), fc.webPath()).map(
        ([h, p, path]) => `http://${h}${p === undefined ? "" : `:${p}`}${path.startsWith("/") ? path : `/${path}`}`,
      ),
      fc.tuple(fc.stringMatching(/^[a-z][a-z0-9.+-]{0,20}$/), fc.webPath()).map(([s, path]) => `${s}:${path || "/cb"}`),
    );
    fc.assert(
      fc.property(uri, (u) => {
        if (checkRedirectUriForRegistration(u) !== null) return;
        const p = presentClient(client, u);
        if (p.redirectKind === "web") expect(p.redirectHost).toBe(new URL(u).host);
        else if (p.redirectKind === "loopback") expect(p.redirectPort).toMatch(/^\d+$/);
        else expect(p.redirectHost).toBe(`${u.slice(0, u.indexOf(":")).toLowerCase()}:`);
      }),
      { numRuns: 500 },
    );
  });
});

