/**
 * The server's "Machine and enterprise access" page: creating a machine client (its secret shown
 * once, in the answer itself, and never in a cookie), rotating and revoking it, the DPoP and
 * enterprise settings, and the page refused to anyone but the owner.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ActionFunctionArgs, LoaderFunctionArgs } from "@remix-run/node";
import { createUserSession, csrfToken, sessionStorage } from "~/auth/session.server";
import { createUser } from "~/auth/users.server";
import * as accessPage from "~/routes/servers.$serverId_.access";
import { getServerAccessSettings } from "~/oauth/server-access.server";
import { listMachineClients } from "~/oauth/machine-clients.server";
import { createServer } from "~/servers/servers.server";
import { createTestContext, type TestContext } from "../helpers/context";
import { formRequest, loadContext } from "../helpers/http";

const BASE = "http://localhost:3000";
type Browser = { cookie: string; csrf: string; userId: string };

async function signedIn(ctx: TestContext, email: string): Promise<Browser> {
  const user = await createUser(ctx, { email });
  const cookie = (await createUserSession(ctx, new Request(BASE), user.id)).split(";")[0]!;
  const sid = (await sessionStorage(ctx).getSession(cookie)).get("sid")!;
  return { cookie, csrf: csrfToken(ctx, sid), userId: user.id };
}

async function run(fn: (args: LoaderFunctionArgs & ActionFunctionArgs) => unknown, ctx: TestContext, request: Request, serverId: string) {
  try {
    const result = await fn({ request, context: loadContext(ctx), params: { serverId } } as LoaderFunctionArgs & ActionFunctionArgs);
    return result as Response;
  } catch (thrown) {
    if (thrown instanceof Response) return thrown;
    throw thrown;
  }
}

let ctx: TestContext;
let alice: Browser;
let serverId: string;
beforeEach(async () => {
  ctx = createTestContext({ TOOLGATE_ENTERPRISE_IDP_ISSUERS: "https://idp.corp.example" });
  alice = await signedIn(ctx, "alice@example.test");
  serverId = (await createServer(ctx, {
    ownerId: alice.userId,
    name: "Notes",
    tools: ["read", "write"].map((name) => ({ name, description: name, inputSchema: { type: "object" }, endpoint: { url: "https://tools.example.test/x" } })),
  })).server.id;
});
afterEach(() => ctx.cleanup());

const post = (b: Browser, fields: Record<string, string | string[]>) =>
  formRequest(`${BASE}/servers/${serverId}/access`, { csrf: b.csrf, ...fields }, { Cookie: b.cookie });

describe("machine and enterprise access page", () => {
  it("creates a machine client showing its secret once in the answer, rotates and revokes it", async () => {
    const created = await run(accessPage.action, ctx, post(alice, { intent: "create-client", name: "CI", tools: ["read"], keys: "secret" }), serverId);
    expect(created.status).toBe(200);
    expect(created.headers.get("cache-control")).toBe("no-store");
    expect(created.headers.get("set-cookie")).toBeNull();
    const body = (await created.json()) as { secret: { clientId: string; value: string } };
    expect(body.secret.value).toMatch(/^tgs_/);
    const [client] = await listMachineClients(ctx, alice.userId, serverId);
    expect(client).toMatchObject({ name: "CI", authMethod: "client_secret_basic", clientId: body.secret.clientId });

    const loaded = await (await run(accessPage.loader, ctx, new Request(`${BASE}/servers/${serverId}/access`, { headers: { Cookie: alice.cookie } }), serverId)).text();
    expect(loaded).not.toContain(body.secret.value);

    const rotated = (await (await run(accessPage.action, ctx, post(alice, { intent: "rotate-client-secret", clientId: client!.clientId }), serverId)).json()) as { secret: { value: string } };
    expect(rotated.secret.value).not.toBe(body.secret.value);
    const revoked = await run(accessPage.action, ctx, post(alice, { intent: "revoke-client", clientId: client!.clientId }), serverId);
    expect(revoked.status).toBe(200);
    expect(await listMachineClients(ctx, alice.userId, serverId)).toEqual([]);
  });

  it("says what is wrong with bad input instead of failing", async () => {
    const noName = await run(accessPage.action, ctx, post(alice, { intent: "create-client", name: "", keys: "secret" }), serverId);
    expect(noName.status).toBe(400);
    expect(await noName.json()).toEqual({ error: "Name: a name is required" });
    const badJwks = await run(accessPage.action, ctx, post(alice, { intent: "create-client", name: "k", keys: "jwks", jwks: "{nope" }), serverId);
    expect(await badJwks.json()).toEqual({ error: "The JWKS is not valid JSON." });
    const privateKey = await run(accessPage.action, ctx, post(alice, { intent: "create-client", name: "k", keys: "jwks", jwks: JSON.stringify({ keys: [{ kty: "EC", d: "x" }] }) }), serverId);
    expect(((await privateKey.json()) as { error: string }).error).toMatch(/^JWKS: /);
    const badUri = await run(accessPage.action, ctx, post(alice, { intent: "create-client", name: "k", keys: "jwks_uri", jwksUri: "http://10.0.0.1/keys" }), serverId);
    expect(await badUri.json()).toEqual({ error: "JWKS URL: not https" });
  });

  it("saves the DPoP and enterprise settings; another user gets 404", async () => {
    const saved = await run(accessPage.action, ctx, post(alice, { intent: "settings", dpopRequired: "on", enterpriseAccess: "on", enterpriseTools: ["write"] }), serverId);
    expect(saved.status).toBe(200);
    expect(await getServerAccessSettings(ctx, alice.userId, serverId)).toEqual({ dpopRequired: true, enterpriseAccess: true, enterpriseTools: ["write"] });
    const bob = await signedIn(ctx, "bob@example.test");
    expect((await run(accessPage.action, ctx, post(bob, { intent: "settings" }), serverId)).status).toBe(404);
    expect((await run(accessPage.loader, ctx, new Request(`${BASE}/servers/${serverId}/access`, { headers: { Cookie: bob.cookie } }), serverId)).status).toBe(404);
  });
});
