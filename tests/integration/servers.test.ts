import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { eq } from "drizzle-orm";
import type { ActionFunctionArgs, LoaderFunctionArgs } from "@remix-run/node";
import { createUserSession, csrfToken, sessionStorage } from "~/auth/session.server";
import { createUser } from "~/auth/users.server";
import { mcpServers, tools } from "~/db/schema";
import * as serverPage from "~/routes/servers.$serverId";
import * as deleteServerPage from "~/routes/servers.$serverId_.delete";
import * as editServerPage from "~/routes/servers.$serverId_.edit";
import * as editToolPage from "~/routes/servers.$serverId_.tools.$toolId";
import * as deleteToolPage from "~/routes/servers.$serverId_.tools.$toolId_.delete";
import * as newToolPage from "~/routes/servers.$serverId_.tools.new";
import * as newServerPage from "~/routes/servers.new";
import * as indexPage from "~/routes/_index";
import {
  addTool,
  createServer,
  getServer,
  listServers,
  readSigningSecret,
  ValidationError,
} from "~/servers/servers.server";
import { listToolsForServer } from "~/servers/tool-execution.server";
import { createTestContext, type TestContext } from "../helpers/context";
import { formRequest, loadContext } from "../helpers/http";

const BASE = "http://localhost:3000";
const goodTool = (name = "lookup", extra: Record<string, unknown> = {}) => ({
  name,
  description: "Looks things up",
  inputSchema: { type: "object", properties: { q: { type: "string" } }, required: ["q"] },
  endpoint: { url: "https://tools.example.test/lookup" },
  ...extra,
});

type Browser = { cookie: string; csrf: string; userId: string };

async function signedIn(ctx: TestContext, email: string): Promise<Browser> {
  const user = await createUser(ctx, { email });
  const setCookie = await createUserSession(ctx, new Request(BASE), user.id);
  const cookie = setCookie.split(";")[0]!;
  const sid = (await sessionStorage(ctx).getSession(cookie)).get("sid")!;
  return { cookie, csrf: csrfToken(ctx, sid), userId: user.id };
}

function get(browser: Browser, path: string) {
  return new Request(`${BASE}${path}`, { headers: { Cookie: browser.cookie } });
}
function post(browser: Browser, path: string, fields: Record<string, string> = {}) {
  return formRequest(`${BASE}${path}`, { csrf: browser.csrf, ...fields }, { Cookie: browser.cookie });
}

/** Runs a loader or action and returns its Response, whether it was returned or thrown. */
async function run(
  fn: (args: LoaderFunctionArgs & ActionFunctionArgs) => unknown,
  ctx: TestContext,
  request: Request,
  params: Record<string, string> = {},
): Promise<Response> {
  try {
    const result = await fn({ request, context: loadContext(ctx), params } as LoaderFunctionArgs & ActionFunctionArgs);
    if (result instanceof Response) return result;
    return new Response(JSON.stringify(result), { status: 200 });
  } catch (thrown) {
    if (thrown instanceof Response) return thrown;
    throw thrown;
  }
}

describe("servers and tools: ownership", () => {
  let ctx: TestContext;
  let alice: Browser;
  let bob: Browser;
  let serverId: string;
  let toolId: string;

  beforeEach(async () => {
    ctx = createTestContext();
    alice = await signedIn(ctx, "alice@example.test");
    bob = await signedIn(ctx, "bob@example.test");
    const { server } = await createServer(ctx, { ownerId: alice.userId, name: "Alice's server", tools: [goodTool()] });
    serverId = server.id;
    toolId = (await listToolsForServer(ctx, serverId))[0]!.id;
  });
  afterEach(() => ctx.cleanup());

  it("answers 404 to every loader of someone else's server, exactly like a missing id", async () => {
    const pages = [
      [serverPage.loader, `/servers/${serverId}`, { serverId }],
      [editServerPage.loader, `/servers/${serverId}/edit`, { serverId }],
      [deleteServerPage.loader, `/servers/${serverId}/delete`, { serverId }],
      [newToolPage.loader, `/servers/${serverId}/tools/new`, { serverId }],
      [editToolPage.loader, `/servers/${serverId}/tools/${toolId}`, { serverId, toolId }],
      [deleteToolPage.loader, `/servers/${serverId}/tools/${toolId}/delete`, { serverId, toolId }],
    ] as const;
    for (const [loader, path, params] of pages) {
      const asBob = await run(loader, ctx, get(bob, path), params);
      expect(asBob.status, path).toBe(404);
      const missing = await run(loader, ctx, get(bob, path.replace(serverId, "no-such-id")), { ...params, serverId: "no-such-id" });
      expect(missing.status, path).toBe(404);
      expect(await asBob.text()).toBe(await missing.text());
      const asAlice = await run(loader, ctx, get(alice, path), params);
      expect(asAlice.status, path).toBe(200);
    }
    // Alice's tool under a server id that is not its own is not found either.
    const { server: bobs } = await createServer(ctx, { ownerId: bob.userId, name: "Bob's" });
    const crossed = await run(editToolPage.loader, ctx, get(bob, `/servers/${bobs.id}/tools/${toolId}`), { serverId: bobs.id, toolId });
    expect(crossed.status).toBe(404);
    // And the list shows only one's own servers.
    const list = await run(indexPage.loader, ctx, get(bob, "/"));
    expect(await list.text()).not.toContain("Alice's server");
  });

  it("answers 404 to every action on someone else's server and changes nothing", async () => {
    const before = JSON.stringify([await getServer(ctx, alice.userId, serverId), await listToolsForServer(ctx, serverId), await readSigningSecret(ctx, serverId)]);
    const actions = [
      [serverPage.action, `/servers/${serverId}`, { serverId }, { intent: "rotate-secret" }],
      [editServerPage.action, `/servers/${serverId}/edit`, { serverId }, { name: "Taken over" }],
      [deleteServerPage.action, `/servers/${serverId}/delete`, { serverId }, {}],
      [newToolPage.action, `/servers/${serverId}/tools/new`, { serverId }, { name: "evil", inputSchema: '{"type":"object"}', endpointUrl: "https://evil.example/x" }],
      [editToolPage.action, `/servers/${serverId}/tools/${toolId}`, { serverId, toolId }, { name: "lookup", inputSchema: '{"type":"object"}', endpointUrl: "https://evil.example/x" }],
      [deleteToolPage.action, `/servers/${serverId}/tools/${toolId}/delete`, { serverId, toolId }, {}],
    ] as const;
    for (const [action, path, params, fields] of actions) {
      const response = await run(action, ctx, post(bob, path, fields), params);
      expect(response.status, path).toBe(404);
    }
    const after = JSON.stringify([await getServer(ctx, alice.userId, serverId), await listToolsForServer(ctx, serverId), await readSigningSecret(ctx, serverId)]);
    expect(after).toBe(before);
  });

  it("sends a signed-out visitor to sign in, coming back to the same page", async () => {
    const response = await run(serverPage.loader, ctx, new Request(`${BASE}/servers/${serverId}`), { serverId });
    expect(response.status).toBe(302);
    expect(response.headers.get("Location")).toBe(`/sign-in?returnTo=${encodeURIComponent(`/servers/${serverId}`)}`);
  });

  it("refuses a form post without the CSRF token with 403", async () => {
    const request = formRequest(`${BASE}/servers/${serverId}/edit`, { name: "Renamed" }, { Cookie: alice.cookie });
    const response = await run(editServerPage.action, ctx, request, { serverId });
    expect(response.status).toBe(403);
    expect((await getServer(ctx, alice.userId, serverId))!.name).toBe("Alice's server");
  });

  it("lets the owner rename, rotate the secret, edit and delete", async () => {
    const renamed = await run(editServerPage.action, ctx, post(alice, `/servers/${serverId}/edit`, { name: "  Renamed  ", description: "d" }), { serverId });
    expect(renamed.status).toBe(302);
    expect(await getServer(ctx, alice.userId, serverId)).toMatchObject({ name: "Renamed", description: "d" });

    const oldSecret = await readSigningSecret(ctx, serverId);
    const rotated = await run(serverPage.action, ctx, post(alice, `/servers/${serverId}`, { intent: "rotate-secret" }), { serverId });
    expect(rotated.status).toBe(302);
    const newSecret = await readSigningSecret(ctx, serverId);
    expect(newSecret).not.toBe(oldSecret);
    // The new secret is shown once: on the next page view, then no more.
    const cookie = rotated.headers.get("Set-Cookie")!.split(";")[0]!;
    const first = await run(serverPage.loader, ctx, new Request(`${BASE}/servers/${serverId}`, { headers: { Cookie: cookie } }), { serverId });
    expect(await first.text()).toContain(newSecret);
    expect(first.headers.get("Cache-Control")).toBe("no-store");
    const cleared = first.headers.get("Set-Cookie")!.split(";")[0]!;
    const second = await run(serverPage.loader, ctx, new Request(`${BASE}/servers/${serverId}`, { headers: { Cookie: cleared } }), { serverId });
    expect(await second.text()).not.toContain(newSecret);

    const deleted = await run(deleteServerPage.action, ctx, post(alice, `/servers/${serverId}/delete`), { serverId });
    expect(deleted.status).toBe(302);
    expect((await ctx.db.select().from(mcpServers).where(eq(mcpServers.id, serverId)))).toEqual([]);
    expect((await ctx.db.select().from(tools).where(eq(tools.serverId, serverId)))).toEqual([]);
  });
});

describe("server and tool forms: bad input", () => {
  let ctx: TestContext;
  let alice: Browser;

  beforeEach(async () => {
    ctx = createTestContext();
    alice = await signedIn(ctx, "alice@example.test");
  });
  afterEach(() => ctx.cleanup());

  it("rejects an empty or overlong server name with 400, the message next to the field and the values kept", async () => {
    for (const [name, message] of [
      ["", "Enter a name."],
      ["   ", "Enter a name."],
      ["x".repeat(101), "Use at most 100 characters."],
    ]) {
      const response = await run(newServerPage.action, ctx, post(alice, "/servers/new", { name: name!, description: "kept" }));
      expect(response.status).toBe(400);
      const body = await response.json();
      expect(body.errors).toEqual({ name: message });
      expect(body.values.description).toBe("kept");
    }
    const long = await run(newServerPage.action, ctx, post(alice, "/servers/new", { name: "ok", description: "d".repeat(1001) }));
    expect(long.status).toBe(400);
    expect((await long.json()).errors).toEqual({ description: "Use at most 1000 characters." });
    expect(await listServers(ctx, alice.userId)).toEqual([]);
  });

  it("answers 400, not 500, to a body that is not a form", async () => {
    const request = new Request(`${BASE}/servers/new`, {
      method: "POST",
      headers: { Cookie: alice.cookie, "Content-Type": "application/json" },
      body: JSON.stringify({ name: "x" }),
    });
    const response = await run(newServerPage.action, ctx, request);
    expect(response.status).toBe(400);
    expect(await listServers(ctx, alice.userId)).toEqual([]);
  });

  it("creates a server and shows its signing secret once", async () => {
    const response = await run(newServerPage.action, ctx, post(alice, "/servers/new", { name: "Mine" }));
    expect(response.status).toBe(302);
    const [server] = await listServers(ctx, alice.userId);
    expect(response.headers.get("Location")).toBe(`/servers/${server!.id}`);
  });

  it("rejects bad tool fields with 400 and a message per field", async () => {
    const { server } = await createServer(ctx, { ownerId: alice.userId, name: "S", tools: [goodTool("taken")] });
    const path = `/servers/${server.id}/tools/new`;
    const cases: [Record<string, string>, Record<string, string>][] = [
      [{ name: "" }, { name: "Enter a tool name." }],
      [{ name: "has space" }, { name: "Use only letters, digits, underscore (_), hyphen (-) and dot (.)." }],
      [{ name: "slash/no" }, { name: "Use only letters, digits, underscore (_), hyphen (-) and dot (.)." }],
      [{ name: "é" }, { name: "Use only letters, digits, underscore (_), hyphen (-) and dot (.)." }],
      [{ name: "a".repeat(129) }, { name: "Use at most 128 characters." }],
      [{ name: "taken" }, { name: "A tool named taken already exists on this server." }],
      [{ inputSchema: "" }, { inputSchema: "Enter an input schema (a JSON object)." }],
      [{ inputSchema: "{not json" }, { inputSchema: expect.stringMatching(/^The input schema is not valid JSON: /) }],
      [{ inputSchema: "[]" }, { inputSchema: "The input schema must be a JSON object." }],
      [{ inputSchema: '{"type":"string"}' }, { inputSchema: 'The input schema must have "type": "object".' }],
      [{ inputSchema: '{"properties":{}}' }, { inputSchema: 'The input schema must have "type": "object".' }],
      [{ inputSchema: '{"type":"object","properties":{"a":{"type":"nonsense"}}}' }, { inputSchema: expect.stringMatching(/^The input schema is not valid JSON Schema: /) }],
      [{ inputSchema: '{"type":"object","required":"a"}' }, { inputSchema: expect.stringMatching(/^The input schema is not valid JSON Schema: /) }],
      [{ inputSchema: JSON.stringify({ type: "object", description: "x".repeat(70_000) }) }, { inputSchema: expect.stringMatching(/larger than 64 KiB|not valid JSON/) }],
      [{ endpointUrl: "" }, { endpointUrl: "Enter the endpoint URL." }],
      [{ endpointUrl: "not a url" }, { endpointUrl: "Enter a full URL starting with http:// or https://, or a path starting with / on the server's base URL." }],
      [{ endpointUrl: "https://{tenant}.example.test/a" }, { endpointUrl: "Placeholders may only appear in the path, not in the host." }],
      [{ endpointUrl: "https://example.test/a?q={q}" }, { endpointUrl: "Placeholders may only appear in the path; map query arguments instead." }],
      [{ endpointUrl: "/orders/{id}?x=1" }, { endpointUrl: "Put query parameters in the argument mapping, not in the path." }],
      [{ endpointUrl: "//evil.example/x" }, { endpointUrl: "A path on the server's base URL starts with a single /." }],
      [{ endpointUrl: "/orders/{id}" }, { endpointUrl: "This is a path on the server's base URL; set the server's base URL first (Upstream API on the server's page)." }],
      [{ endpointUrl: "javascript:alert(1)" }, { endpointUrl: "The URL must start with http:// or https://." }],
      [{ endpointUrl: "https://user:pw@example.test/" }, { endpointUrl: "Put credentials in a header or the server's API credentials, not in the URL." }],
      [{ endpointUrl: `https://example.test/${"a".repeat(2100)}` }, { endpointUrl: "Use at most 2048 characters." }],
      [{ endpointMethod: "OPTIONS" }, { endpointMethod: "Choose one of GET, HEAD, POST, PUT, PATCH, DELETE." }],
      [{ endpointHeaders: "no colon here" }, { endpointHeaders: 'Line 1 is not "Name: value".' }],
      [{ endpointHeaders: "X-Toolgate-Signature: forged" }, { endpointHeaders: "The header X-Toolgate-Signature is set by Toolgate and cannot be changed." }],
      [{ endpointHeaders: "Host: evil.example" }, { endpointHeaders: "The header Host is set by Toolgate and cannot be changed." }],
      [{ endpointHeaders: "A: 1\nA: 2" }, { endpointHeaders: "The header A appears twice." }],
      [{ endpointHeaders: '{"X": 5}' }, { endpointHeaders: "Header values must be strings." }],
      [{ endpointHeaders: "X-Name: café" }, { endpointHeaders: "The value of X-Name may only contain printable ASCII characters." }],
      [{ endpointHeaders: `X-Long: ${"v".repeat(4097)}` }, { endpointHeaders: "The value of X-Long is longer than 4096 characters." }],
      [{ description: "d".repeat(4001) }, { description: "Use at most 4000 characters." }],
    ];
    for (const [override, errors] of cases) {
      const fields = { name: "new_tool", description: "kept", inputSchema: '{"type":"object"}', endpointUrl: "https://e.test/x", endpointMethod: "POST", endpointHeaders: "", ...override };
      const response = await run(newToolPage.action, ctx, post(alice, path, fields), { serverId: server.id });
      expect(response.status, JSON.stringify(override).slice(0, 80)).toBe(400);
      const body = await response.json();
      expect(body.errors, JSON.stringify(override).slice(0, 80)).toEqual(errors);
      if (!("description" in override)) expect(body.values.description).toBe("kept");
    }
    expect((await listToolsForServer(ctx, server.id)).map((t) => t.name)).toEqual(["taken"]);
  });

  it("adds and edits a tool through the forms, keeping headers encrypted at rest", async () => {
    const { server } = await createServer(ctx, { ownerId: alice.userId, name: "S" });
    const added = await run(
      newToolPage.action,
      ctx,
      post(alice, `/servers/${server.id}/tools/new`, {
        name: "lookup",
        inputSchema: '{"type":"object"}',
        endpointUrl: "https://e.test/x",
        endpointMethod: "patch",
        endpointHeaders: "Authorization: Bearer very-secret-key\nX-Team: blue",
      }),
      { serverId: server.id },
    );
    expect(added.status).toBe(302);
    const [row] = await listToolsForServer(ctx, server.id);
    expect(row).toMatchObject({ name: "lookup", endpointMethod: "PATCH" });
    expect(row!.endpointHeadersEnc).not.toContain("very-secret-key");

    const edit = await run(editToolPage.loader, ctx, get(alice, `/servers/${server.id}/tools/${row!.id}`), { serverId: server.id, toolId: row!.id });
    expect((await edit.json()).values.endpointHeaders).toBe("Authorization: Bearer very-secret-key\nX-Team: blue");

    await addTool(ctx, alice.userId, server.id, goodTool("other"));
    const clash = await run(
      editToolPage.action,
      ctx,
      post(alice, `/servers/${server.id}/tools/${row!.id}`, { name: "other", inputSchema: '{"type":"object"}', endpointUrl: "https://e.test/x" }),
      { serverId: server.id, toolId: row!.id },
    );
    expect(clash.status).toBe(400);
    expect((await clash.json()).errors).toEqual({ name: "A tool named other already exists on this server." });
  });
});

describe("createServer with tools", () => {
  let ctx: TestContext;
  let ownerId: string;
  beforeEach(async () => {
    ctx = createTestContext();
    ownerId = (await createUser(ctx, { email: "o@example.test" })).id;
  });
  afterEach(() => ctx.cleanup());

  it("is one transaction: a bad tool leaves no server row", async () => {
    await expect(createServer(ctx, { ownerId, name: "Half", tools: [goodTool("a"), goodTool("b", { inputSchema: { type: "array" } })] })).rejects.toThrow(ValidationError);
    await expect(createServer(ctx, { ownerId, name: "Dup", tools: [goodTool("a"), goodTool("a")] })).rejects.toThrow(/tools.1.name: A tool named a already exists/);
    expect((await ctx.db.select().from(mcpServers))).toEqual([]);
    expect((await ctx.db.select().from(tools))).toEqual([]);
  });

  it("rolls back when the database refuses a row midway", async () => {
    // A missing owner passes validation but fails the foreign key on insert.
    await expect(createServer(ctx, { ownerId: "no-such-user", name: "Orphan", tools: [goodTool("a")] })).rejects.toThrow(/foreign key/i);
    expect((await ctx.db.select().from(mcpServers))).toEqual([]);
    expect((await ctx.db.select().from(tools))).toEqual([]);
  });

  it("stores the signing secret and headers encrypted, never in clear", async () => {
    const { server, signingSecret } = await createServer(ctx, {
      ownerId,
      name: "S",
      tools: [goodTool("a", { endpoint: { url: "https://e.test", headers: { "X-Api-Key": "plain-key-value" } } })],
    });
    const raw = JSON.stringify(await ctx.queryRows("select * from mcp_servers join tools on tools.server_id = mcp_servers.id"));
    expect(raw).not.toContain(signingSecret);
    expect(raw).not.toContain("plain-key-value");
    expect(await readSigningSecret(ctx, server.id)).toBe(signingSecret);
    expect(JSON.stringify(server)).not.toContain("signingSecretEnc");
  });

  it("accepts the MCP tool-name alphabet and JSON Schema 2020-12 and draft-07 schemas", async () => {
    const { server } = await createServer(ctx, {
      ownerId,
      name: "S",
      tools: [
        goodTool("A-z_0.9"),
        goodTool("x".repeat(128)),
        goodTool("with_2020", { inputSchema: { $schema: "https://json-schema.org/draft/2020-12/schema", type: "object", $defs: { s: { type: "string" } }, properties: { a: { $ref: "#/$defs/s" } } } }),
        goodTool("with_draft7", { inputSchema: { $schema: "http://json-schema.org/draft-07/schema#", $id: "urn:x", type: "object", properties: { d: { type: "string", format: "date" } } } }),
      ],
    });
    expect(server.toolCount).toBe(4);
  });
});
