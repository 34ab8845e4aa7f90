/**
 * Whatever a client sends, GET /authorize never answers 500 and never redirects anywhere but our
 * own consent page or a redirect URI the client registered (RFC 9700 §4.11: no open redirector).
 * Plus the consent data for a metadata-document client and for a user without servers.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUserSession } from "~/auth/session.server";
import { createUser } from "~/auth/users.server";
import { oauthClients } from "~/db/schema";
import { registerClient } from "~/oauth/clients.server";
import { FORM_MESSAGES } from "~/oauth/consent.server";
import { csrfToken, sessionStorage } from "~/auth/session.server";
import { action, loader } from "~/routes/authorize";
import { createServer } from "~/servers/servers.server";
import { createTestContext, type TestContext } from "../helpers/context";
import { formRequest, loadContext } from "../helpers/http";

const BASE = "http://localhost:3000";
const REGISTERED = ["https://client.example.test/callback", "http://127.0.0.1/cb", "cursor://app/cb"];

let ctx: TestContext;
let clientId: string;
let serverId: string;

async function run(fn: typeof loader | typeof action, request: Request): Promise<Response> {
  try {
    return (await fn({ request, context: loadContext(ctx), params: {} })) as Response;
  } catch (error) {
    if (error instanceof Response) return error;
    throw error;
  }
}

beforeAll(async () => {
  ctx = createTestContext();
  const user = await createUser(ctx, { email: "owner@example.test", password: null });
  serverId = (await createServer(ctx, { ownerId: user.id, name: "Weather", tools: [] })).server.id;
  clientId = (await registerClient(ctx, { client_name: "Fuzz", redirect_uris: REGISTERED, token_endpoint_auth_method: "none" })).client.id;
});
afterAll(() => ctx.cleanup());

describe("RFC 9700 §4.11: GET /authorize is not an open redirector", () => {
  it("any parameters: a page error, our consent page, or a registered redirect URI", async () => {
    const names = ["client_id", "redirect_uri", "response_type", "code_challenge", "code_challenge_method", "state", "scope", "resource", "request", "request_uri", "server", "x"];
    const value = fc.oneof(
      fc.string({ maxLength: 60 }),
      fc.constantFrom(
        "code",
        "S256",
        "plain",
        "mcp:tools",
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "https://client.example.test/callback",
        "http://127.0.0.1:8080/cb",
        "https://evil.example.test/cb",
        "javascript:alert(1)",
        "cursor://app/cb",
        "//evil.example.test",
        "http://localhost:3000/mcp/x",
        "AAAAAAAAAAAAAAAAAAAAAA",
      ),
    );
    const pair = fc.tuple(fc.constantFrom(...names), value);
    const seen = { page: 0, consent: 0, client: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(pair, { maxLength: 6 }), fc.constantFrom("none", "client", "valid"), async (pairs, base) => {
        const query = new URLSearchParams();
        if (base !== "none") query.append("client_id", clientId);
        if (base === "valid") {
          query.append("redirect_uri", REGISTERED[0]!);
          query.append("response_type", "code");
          query.append("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
          query.append("code_challenge_method", "S256");
        }
        for (const [k, v] of pairs) query.append(k, v);
        const response = await run(loader, new Request(`${BASE}/authorize?${query.toString()}`));
        expect(response.status).not.toBe(500);
        const location = response.headers.get("Location");
        if (location === null) {
          seen.page++;
          expect([200, 400, 403]).toContain(response.status);
          return;
        }
        const ours = location.startsWith("/authorize?request=");
        seen[ours ? "consent" : "client"]++;
        if (ours) return;
        const registered = REGISTERED.some((uri) => {
          const target = new URL(location);
          const base = new URL(uri);
          const loopback = base.hostname === "127.0.0.1";
          return target.protocol === base.protocol && target.hostname === base.hostname && target.pathname === base.pathname && (loopback || target.port === base.port);
        });
        expect(registered).toBe(true);
      }),
      { numRuns: 300 },
    );
    // The run covered all three outcomes.
    expect(seen.consent).toBeGreaterThan(0);
    expect(seen.client).toBeGreaterThan(0);
    expect(seen.page).toBeGreaterThan(0);
  });
});

describe("consent data for other kinds of clients and users", () => {
  it("a metadata-document client is shown with the host that published it, not as Unverified", async () => {
    const documentUrl = "https://app.example.test/oauth/client.json";
    await ctx.db
      .insert(oauthClients)
      .values({
        id: documentUrl,
        kind: "metadata_document",
        clientName: "Example App",
        redirectUris: JSON.stringify(["https://app.example.test/callback"]),
        metadata: "{}",
        createdAt: ctx.now(),
        expiresAt: ctx.now() + 3_600_000,
      });
    const user = await createUser(ctx, { email: `md-${Date.now()}@example.test`, password: null });
    const cookie = (await createUserSession(ctx, new Request(BASE), user.id)).split(";")[0]!;
    const mine = (await createServer(ctx, { ownerId: user.id, name: "Mine", tools: [] })).server.id;
    const start = await run(
      loader,
      new Request(
        `${BASE}/authorize?${new URLSearchParams({
          client_id: documentUrl,
          response_type: "code",
          code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
          code_challenge_method: "S256",
          resource: `${BASE}/mcp/${mine}`,
        })}`,
      ),
    );
    expect(start.status).toBe(302);
    const page = await run(loader, new Request(`${BASE}${start.headers.get("Location")}`, { headers: { Cookie: cookie } }));
    expect((await page.json()).client).toEqual({
      name: "Example App",
      kind: "metadata_document",
      redirectHost: "app.example.test",
      redirectPort: null,
      redirectKind: "web",
      clientIdHost: "app.example.test",
      // Its document names no logo_uri.
      logoUrl: null,
    });
  });

  it("a user without servers sees an empty choice and cannot approve", async () => {
    const user = await createUser(ctx, { email: `empty-${Date.now()}@example.test`, password: null });
    const setCookie = await createUserSession(ctx, new Request(BASE), user.id);
    const cookie = setCookie.split(";")[0]!;
    const sid = (await sessionStorage(ctx).getSession(cookie)).get("sid")!;
    const start = await run(
      loader,
      new Request(
        `${BASE}/authorize?${new URLSearchParams({
          client_id: clientId,
          redirect_uri: REGISTERED[0]!,
          response_type: "code",
          code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
          code_challenge_method: "S256",
        })}`,
      ),
    );
    const location = start.headers.get("Location")!;
    const data = await (await run(loader, new Request(`${BASE}${location}`, { headers: { Cookie: cookie } }))).json();
    expect(data).toMatchObject({ choices: [], server: null, tools: [] });
    const requestId = new URL(location, BASE).searchParams.get("request")!;
    const response = await run(
      action,
      formRequest(`${BASE}${location}`, { request: requestId, csrf: csrfToken(ctx, sid, `authorize:${requestId}`), intent: "approve" }, { Cookie: cookie }),
    );
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ formError: FORM_MESSAGES.noServer });
    // Deny still answers the client.
    const deny = await run(
      action,
      formRequest(`${BASE}${location}`, { request: requestId, csrf: csrfToken(ctx, sid, `authorize:${requestId}`), intent: "deny" }, { Cookie: cookie }),
    );
    expect(deny.status).toBe(303);
    expect(new URL(deny.headers.get("Location")!).searchParams.get("error")).toBe("access_denied");
    expect(serverId).toBeTruthy();
  });
});
