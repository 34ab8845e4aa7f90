import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { revokeGrant } from "~/oauth/tokens.server";
import { flushLastUsed } from "~/mcp/last-used.server";
import { MAX_BODY_BYTES } from "~/mcp/endpoint.server";
import { describeEvent } from "~/access/activity.server";
import type { RunningServer } from "~/http/server.server";
import { createTestContext, type TestContext } from "../helpers/context";
import { startProtocolServer } from "../helpers/http";
import { connectClient, echoSchema, grantAccess, seedServer, startToolEndpoint } from "../helpers/mcp";

const PRM = (serverId: string) => `http://localhost:3000/.well-known/oauth-protected-resource/mcp/${serverId}`;
const MCP_HEADERS = { "Content-Type": "application/json", Accept: "application/json, text/event-stream" };

describe("MCP endpoint /mcp/<serverId> with the real SDK client", () => {
  let ctx: TestContext;
  let app: RunningServer;
  let endpoint: Awaited<ReturnType<typeof startToolEndpoint>>;
  let seeded: { userId: string; serverId: string };
  let access: Awaited<ReturnType<typeof grantAccess>>;
  let slowAccess: Awaited<ReturnType<typeof grantAccess>>;
  let mcpUrl: string;
  const clients: Client[] = [];

  async function connect(token: string, url = mcpUrl) {
    const client = await connectClient(url, token);
    clients.push(client);
    return client;
  }

  /** A raw JSON-RPC POST with a valid token, for the cases the SDK client never sends. */
  function post(body: string, headers: Record<string, string> = {}, token = access.tokens.accessToken) {
    return fetch(mcpUrl, {
      method: "POST",
      headers: { ...MCP_HEADERS, Authorization: `Bearer ${token}`, ...headers },
      body,
    });
  }

  beforeAll(async () => {
    ctx = createTestContext();
    endpoint = await startToolEndpoint();
    seeded = await seedServer(ctx, endpoint.url, [
      { name: "echo", description: "Echoes its text", inputSchema: echoSchema, path: "/echo" },
      { name: "broken", description: "Always fails", path: "/fail" },
      { name: "not_approved", description: "Exists but is not in the grant", path: "/echo" },
      { name: "slow", description: "Never answers", path: "/slow" },
    ]);
    access = await grantAccess(ctx, seeded, ["echo", "broken"]);
    slowAccess = await grantAccess(ctx, seeded, ["slow"]);
    app = await startProtocolServer(ctx);
    mcpUrl = `${app.url}/mcp/${seeded.serverId}`;
  });

  afterAll(async () => {
    for (const client of clients) await client.close().catch(() => {});
    await app.close(100);
    await endpoint.close();
    ctx.cleanup();
  });

  describe("MCP lifecycle, tools/list, tools/call, ping", () => {
    it("initializes with the server's name and the tools capability, and answers ping", async () => {
      const client = await connect(access.tokens.accessToken);
      expect(client.getServerVersion()?.name).toBe("Notes");
      expect(client.getServerCapabilities()?.tools).toEqual({});
      expect(client.getInstructions()).toBe("The Notes server");
      expect(await client.ping()).toEqual({});
    });

    it("lists exactly the tools the grant covers, with their schemas", async () => {
      const client = await connect(access.tokens.accessToken);
      const { tools } = await client.listTools();
      expect(tools).toEqual([
        { name: "broken", description: "Always fails", inputSchema: { type: "object" } },
        { name: "echo", description: "Echoes its text", inputSchema: echoSchema },
      ]);
    });

    it("calls a granted tool at its real endpoint, audits the call without its arguments", async () => {
      const client = await connect(access.tokens.accessToken);
      const before = endpoint.received.length;
      const result = await client.callTool({ name: "echo", arguments: { text: "hello from the client" } });
      expect(result.isError).toBeFalsy();
      expect(result.content).toEqual([{ type: "text", text: JSON.stringify({ echoed: { text: "hello from the client" } }) }]);
      expect(endpoint.received.slice(before)).toEqual([{ path: "/echo", body: JSON.stringify({ text: "hello from the client" }) }]);

      const audit = (await ctx.queryRows<{ kind: string; server_id: string; grant_id: string; client_id: string; actor: string; detail: string }>("select kind, server_id, grant_id, client_id, actor, detail from audit_events where kind = 'tool.called' order by id desc limit 1"))[0]!;
      expect(audit).toMatchObject({
        server_id: seeded.serverId,
        grant_id: access.grantId,
        client_id: access.clientId,
        actor: `client:${access.clientId}`,
      });
      const detail = JSON.parse(audit.detail);
      expect(detail).toMatchObject({ tool: "echo", outcome: "ok" });
      expect(typeof detail.durationMs).toBe("number");
      expect(audit.detail).not.toContain("hello from the client");
    });

    it("refuses a tool the grant does not cover, and an unknown tool, without calling any endpoint", async () => {
      const client = await connect(access.tokens.accessToken);
      const before = endpoint.received.length;
      await expect(client.callTool({ name: "not_approved", arguments: {} })).rejects.toThrow(
        /Tool "not_approved" was not approved for this application; reconnect and approve it to use it/,
      );
      await expect(client.callTool({ name: "nope", arguments: {} })).rejects.toThrow(/Unknown tool: nope/);
      expect(endpoint.received.length).toBe(before);
    });

    it("audits refused calls (not granted, unknown) with the requested name, truncated, and never the arguments", async () => {
      const client = await connect(access.tokens.accessToken);
      const lastId = await ctx.countRows("select coalesce(max(id), 0) as id from audit_events");
      const longName = `probe_${"x".repeat(300)}`;
      await expect(client.callTool({ name: "not_approved", arguments: { secret: "argument-not-granted" } })).rejects.toThrow(/was not approved/);
      await expect(client.callTool({ name: longName, arguments: { secret: "argument-unknown" } })).rejects.toThrow(/Unknown tool/);
      const rows = await ctx.queryRows<{ kind: string; server_id: string; user_id: string; grant_id: string; client_id: string; actor: string; detail: string }>("select kind, server_id, user_id, grant_id, client_id, actor, detail from audit_events where id > ? and kind = 'tool.called' order by id", lastId);
      expect(rows).toHaveLength(2);
      for (const row of rows) {
        expect(row).toMatchObject({
          server_id: seeded.serverId,
          grant_id: access.grantId,
          client_id: access.clientId,
          actor: `client:${access.clientId}`,
        });
        expect(row.detail).not.toContain("argument-");
      }
      expect(JSON.parse(rows[0]!.detail)).toEqual({ tool: "not_approved", outcome: "refused", reason: "not_granted" });
      expect(JSON.parse(rows[1]!.detail)).toEqual({ tool: longName.slice(0, 128), outcome: "refused", reason: "unknown" });
    });

    it("answers arguments that do not match the schema with a tool error, never reaching the endpoint", async () => {
      const client = await connect(access.tokens.accessToken);
      const before = endpoint.received.length;
      const result = await client.callTool({ name: "echo", arguments: { text: 42 } });
      expect(result.isError).toBe(true);
      expect(JSON.stringify(result.content)).toContain("Invalid arguments for tool echo");
      const missing = await client.callTool({ name: "echo", arguments: {} });
      expect(missing.isError).toBe(true);
      expect(endpoint.received.length).toBe(before);
      // The audit log says Toolgate refused it (the endpoint was not called), not that the tool failed.
      const rows = await ctx.queryRows<{ detail: string }>("select detail from audit_events where kind = 'tool.called' order by id desc limit 2");
      for (const row of rows) expect(JSON.parse(row.detail)).toMatchObject({ tool: "echo", outcome: "invalid_arguments" });
      expect(describeEvent("tool.called", JSON.parse(rows[0]!.detail) as Record<string, unknown>, "Claude Code", "x")).toBe(
        "Claude Code called echo: refused: arguments did not match the schema (the endpoint was not called)",
      );
    });

    it("turns a failing tool endpoint into an error result and keeps serving", async () => {
      const client = await connect(access.tokens.accessToken);
      const result = await client.callTool({ name: "broken", arguments: {} });
      expect(result.isError).toBe(true);
      expect(JSON.stringify(result.content)).toContain("The tool endpoint answered HTTP 500");
      const audit = (await ctx.queryRows<{ detail: string }>("select detail from audit_events where kind = 'tool.called' order by id desc limit 1"))[0]!;
      expect(JSON.parse(audit.detail)).toMatchObject({ tool: "broken", outcome: "error" });
      // The endpoint keeps serving the same client.
      expect((await client.listTools()).tools).toHaveLength(2);
      const ok = await client.callTool({ name: "echo", arguments: { text: "still here" } });
      expect(ok.isError).toBeFalsy();
    });

    it("a client's notifications/cancelled aborts its in-flight tool call at the endpoint", async () => {
      const client = await connect(slowAccess.tokens.accessToken);
      const controller = new AbortController();
      const call = client.callTool({ name: "slow", arguments: {} }, undefined, { signal: controller.signal });
      // The SDK client cancels with notifications/cancelled in a separate POST; the call's own HTTP
      // request stays open, so only the notification can stop the tool call.
      await expect.poll(() => endpoint.received.some((r) => r.path === "/slow"), { timeout: 5000 }).toBe(true);
      expect(endpoint.abandoned).toEqual([]);
      controller.abort("the user pressed stop");
      await expect(call).rejects.toThrow();
      await expect.poll(() => endpoint.abandoned.length, { timeout: 5000 }).toBe(1);
      // Nothing is stuck: the same client keeps working.
      expect(await client.ping()).toEqual({});
    });

    it("keeps two clients' identical request ids apart (ids are remapped while in flight)", async () => {
      const other = await grantAccess(ctx, seeded, ["echo"]);
      const body = (text: string) =>
        JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "echo", arguments: { text } } });
      const [a, b] = await Promise.all([post(body("from A")), post(body("from B"), {}, other.tokens.accessToken)]);
      const [ja, jb] = [await a.json(), await b.json()];
      expect(ja.id).toBe(1);
      expect(jb.id).toBe(1);
      expect(ja.result.content[0].text).toContain("from A");
      expect(jb.result.content[0].text).toContain("from B");
    });
  });

  describe("RFC 6750 / MCP authorization: the bearer check on every request", () => {
    it("answers a request without a token with 401 and the discovery challenge", async () => {
      const res = await fetch(mcpUrl, { method: "POST", headers: MCP_HEADERS, body: "{}" });
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe(
        `Bearer resource_metadata="${PRM(seeded.serverId)}", scope="mcp:tools"`,
      );
      expect(res.headers.get("cache-control")).toBe("no-store");
    });

    it("ignores a token in the query string (header only)", async () => {
      const res = await fetch(`${mcpUrl}?access_token=${access.tokens.accessToken}`, {
        method: "POST",
        headers: MCP_HEADERS,
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
      });
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe(
        `Bearer resource_metadata="${PRM(seeded.serverId)}", scope="mcp:tools"`,
      );
    });

    it("treats another auth scheme as no token, and a malformed Bearer value as an invalid token", async () => {
      const ping = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" });
      const basic = await fetch(mcpUrl, { method: "POST", headers: { ...MCP_HEADERS, Authorization: "Basic dXNlcjpwYXNz" }, body: ping });
      expect(basic.status).toBe(401);
      expect(basic.headers.get("www-authenticate")).toBe(`Bearer resource_metadata="${PRM(seeded.serverId)}", scope="mcp:tools"`);
      const malformed = await fetch(mcpUrl, { method: "POST", headers: { ...MCP_HEADERS, Authorization: "Bearer a b c" }, body: ping });
      expect(malformed.status).toBe(401);
      expect(malformed.headers.get("www-authenticate")).toContain('error="invalid_token"');
      // The scheme is case-insensitive (RFC 9110 §11.1).
      const lower = await fetch(mcpUrl, {
        method: "POST",
        headers: { ...MCP_HEADERS, Authorization: `bearer ${access.tokens.accessToken}` },
        body: ping,
      });
      expect(lower.status).toBe(200);
    });

    it("answers an unknown token with 401 invalid_token", async () => {
      const res = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }), {}, "tga_not-a-real-token");
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe(
        `Bearer resource_metadata="${PRM(seeded.serverId)}", scope="mcp:tools", error="invalid_token", error_description="The access token is invalid, expired or revoked"`,
      );
      expect(await res.json()).toEqual({ error: "invalid_token", error_description: "The access token is invalid, expired or revoked" });
    });

    it("never accepts a token issued for another MCP server", async () => {
      const otherServer = await seedServer(ctx, endpoint.url, [{ name: "echo", inputSchema: echoSchema, path: "/echo" }], "Other");
      const otherAccess = await grantAccess(ctx, otherServer, ["echo"]);
      // The other server's token works there...
      const there = await connect(otherAccess.tokens.accessToken, `${app.url}/mcp/${otherServer.serverId}`);
      expect((await there.listTools()).tools.map((t) => t.name)).toEqual(["echo"]);
      // ...and is refused here, and the other way round.
      const res = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }), {}, otherAccess.tokens.accessToken);
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe(
        `Bearer resource_metadata="${PRM(seeded.serverId)}", scope="mcp:tools", error="invalid_token", error_description="The access token was issued for a different MCP server"`,
      );
      await expect(connectClient(`${app.url}/mcp/${otherServer.serverId}`, access.tokens.accessToken)).rejects.toThrow();
    });

    it("answers a token without the mcp:tools scope with 403 insufficient_scope", async () => {
      const narrow = await grantAccess(ctx, seeded, ["echo"], "profile");
      const res = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }), {}, narrow.tokens.accessToken);
      expect(res.status).toBe(403);
      expect(res.headers.get("www-authenticate")).toBe(
        `Bearer resource_metadata="${PRM(seeded.serverId)}", scope="mcp:tools", error="insufficient_scope", error_description="The access token lacks the mcp:tools scope"`,
      );
    });

    it("answers 404 for a server that does not exist", async () => {
      const res = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }), {}, access.tokens.accessToken);
      expect(res.status).toBe(200);
      const gone = await fetch(`${app.url}/mcp/doesNotExist123`, {
        method: "POST",
        headers: { ...MCP_HEADERS, Authorization: `Bearer ${access.tokens.accessToken}` },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
      });
      expect(gone.status).toBe(404);
      expect((await gone.json()).error.message).toBe("Not found: this MCP server does not exist");
    });

    it("refuses an expired token", async () => {
      const shortLived = await grantAccess(ctx, seeded, ["echo"]);
      const client = await connect(shortLived.tokens.accessToken);
      ctx.advance(ctx.config.accessTokenTtlSeconds * 1000 + 1);
      try {
        await expect(client.listTools()).rejects.toMatchObject({ code: 401 });
      } finally {
        ctx.advance(-(ctx.config.accessTokenTtlSeconds * 1000 + 1));
      }
    });

    it("refuses a revoked grant's token on the very next request", async () => {
      const revocable = await grantAccess(ctx, seeded, ["echo"]);
      const client = await connect(revocable.tokens.accessToken);
      expect((await client.callTool({ name: "echo", arguments: { text: "before" } })).isError).toBeFalsy();
      await ctx.store.transaction((tx) => revokeGrant(ctx, tx, revocable.grantId, seeded.userId));
      const before = endpoint.received.length;
      await expect(client.callTool({ name: "echo", arguments: { text: "after" } })).rejects.toMatchObject({ code: 401 });
      expect(endpoint.received.length).toBe(before);
    });
  });

  describe("MCP 2026-07-28: the modern era on the same URL, and its bad input", () => {
    const envelope = {
      "io.modelcontextprotocol/protocolVersion": "2026-07-28",
      "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" },
      "io.modelcontextprotocol/clientCapabilities": {},
    };
    const modern = (id: number | string, method: string, params: Record<string, unknown> = {}, meta: Record<string, unknown> = envelope) =>
      JSON.stringify({ jsonrpc: "2.0", id, method, params: { ...params, _meta: meta } });
    const headers = (method: string, extra: Record<string, string> = {}) => ({ "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": method, ...extra });
    const rpc = async (res: Response) => ({ status: res.status, body: (await res.json()) as { id: unknown; error?: { code: number; message: string; data?: unknown }; result?: Record<string, unknown> } });

    it("server/discover: the revision, the capabilities, serverInfo in _meta; no session header", async () => {
      const res = await post(modern(1, "server/discover"), headers("server/discover"));
      expect(res.headers.get("mcp-session-id")).toBeNull();
      const { status, body } = await rpc(res);
      expect(status).toBe(200);
      expect(body.result).toMatchObject({
        supportedVersions: ["2026-07-28"],
        capabilities: { tools: {} },
        resultType: "complete",
        _meta: { "io.modelcontextprotocol/serverInfo": { name: "Notes" } },
      });
    });

    it("tools/list: the grant's tools in name order, resultType, ttlMs 0 and cacheScope private", async () => {
      const { status, body } = await rpc(await post(modern(2, "tools/list"), headers("tools/list")));
      expect(status).toBe(200);
      expect(body.result).toMatchObject({ resultType: "complete", ttlMs: 0, cacheScope: "private" });
      expect((body.result!.tools as { name: string }[]).map((t) => t.name)).toEqual(["broken", "echo"]);
    });

    it("tools/call with Mcp-Name; a grant-less tool is still refused", async () => {
      const ok = await rpc(await post(modern(3, "tools/call", { name: "echo", arguments: { text: "modern" } }), headers("tools/call", { "Mcp-Name": "echo" })));
      expect(ok.status).toBe(200);
      expect(ok.body.result).toMatchObject({ content: [{ type: "text", text: JSON.stringify({ echoed: { text: "modern" } }) }], resultType: "complete" });
      const refused = await rpc(await post(modern(4, "tools/call", { name: "not_approved", arguments: {} }), headers("tools/call", { "Mcp-Name": "not_approved" })));
      expect(refused.body.error).toMatchObject({ code: -32602, message: expect.stringMatching(/was not approved/) });
    });

    it("unknown and removed methods, Object.prototype names included: 404 with -32601 and the request's id", async () => {
      for (const method of ["initialize", "ping", "logging/setLevel", "resources/subscribe", "unknown/method", "constructor", "__proto__", "toString"]) {
        const { status, body } = await rpc(await post(modern(`m-${method}`, method), headers(method)));
        expect(status, method).toBe(404);
        expect(body, method).toMatchObject({ id: `m-${method}`, error: { code: -32601 } });
      }
    });

    it("an unknown revision: 400 UnsupportedProtocolVersion with the supported list and the request's id", async () => {
      const meta = { ...envelope, "io.modelcontextprotocol/protocolVersion": "2099-01-01" };
      const { status, body } = await rpc(await post(modern(7, "tools/list", {}, meta), { "MCP-Protocol-Version": "2099-01-01", "Mcp-Method": "tools/list" }));
      expect(status).toBe(400);
      expect(body).toMatchObject({ id: 7, error: { code: -32022, data: { supported: ["2026-07-28"], requested: "2099-01-01" } } });
    });

    it("header/body disagreements: 400 HeaderMismatch (-32020), never a tool call", async () => {
      const before = endpoint.received.length;
      const cases: [string, Record<string, string>][] = [
        [modern(8, "tools/list"), headers("tools/call")],
        [modern(9, "tools/list"), { "MCP-Protocol-Version": "2026-07-28" }],
        [modern(10, "tools/list"), { "Mcp-Method": "tools/list" }],
        [modern(11, "tools/list"), { "MCP-Protocol-Version": "2025-11-25", "Mcp-Method": "tools/list" }],
        [modern(12, "tools/call", { name: "echo", arguments: { text: "x" } }), headers("tools/call", { "Mcp-Name": "broken" })],
        [modern(13, "tools/call", { name: "echo", arguments: { text: "x" } }), headers("tools/call")],
        [modern(14, "tools/call", { name: "echo", arguments: { text: "x" } }), headers("tools/call", { "Mcp-Name": "=?base64?ZWNobw?=" })],
      ];
      for (const [body, h] of cases) {
        const answer = await rpc(await post(body, h));
        expect(answer.status, JSON.stringify(h)).toBe(400);
        expect(answer.body.error?.code, JSON.stringify(h)).toBe(-32020);
        expect(answer.body.error?.message).toMatch(/^Bad Request: the request headers and body disagree: /);
      }
      // Whitespace around a header value is not part of it (RFC 9110 §5.5); base64 names decode.
      const spaced = await rpc(await post(modern(15, "tools/call", { name: "echo", arguments: { text: "ows" } }), headers("tools/call", { "Mcp-Name": "  echo\t" })));
      expect(spaced.status).toBe(200);
      const encoded = await rpc(await post(modern(16, "tools/call", { name: "echo", arguments: { text: "b64" } }), headers("tools/call", { "Mcp-Name": "=?base64?ZWNobw==?=" })));
      expect(encoded.status).toBe(200);
      expect(endpoint.received.length).toBe(before + 2);
    });

    it("a missing or malformed _meta envelope: 400 invalid params naming the key", async () => {
      const partial = { "io.modelcontextprotocol/protocolVersion": "2026-07-28" };
      const a = await rpc(await post(modern(17, "tools/list", {}, partial), headers("tools/list")));
      expect(a.status).toBe(400);
      expect(a.body.error).toMatchObject({ code: -32602, message: expect.stringContaining("clientCapabilities") });
      const none = await rpc(await post(JSON.stringify({ jsonrpc: "2.0", id: 18, method: "tools/list", params: {} }), headers("tools/list")));
      expect(none.status).toBe(400);
      expect(none.body.error?.code).toBe(-32602);
      const wrongType = await rpc(await post(modern(19, "tools/list", {}, { ...envelope, "io.modelcontextprotocol/clientInfo": "me" }), headers("tools/list")));
      expect(wrongType.status).toBe(400);
      expect(wrongType.body.error?.code).toBe(-32602);
    });

    it("a batch holding a modern request: 400 invalid request; wrong Content-Type 415; oversized 413", async () => {
      const batch = await rpc(await post(`[${modern(20, "tools/list")}]`, headers("tools/list")));
      expect(batch.status).toBe(400);
      expect(batch.body.error).toMatchObject({ code: -32600, message: expect.stringMatching(/batches/) });
      const typed = await post(modern(21, "tools/list"), headers("tools/list", { "Content-Type": "text/plain" }));
      expect(typed.status).toBe(415);
      const big = await post(modern(22, "tools/call", { name: "echo", arguments: { text: "x".repeat(MAX_BODY_BYTES) } }), headers("tools/call", { "Mcp-Name": "echo" }));
      expect(big.status).toBe(413);
      expect((await big.json()).error.message).toMatch(/Payload Too Large/);
    });

    it("arguments that do not match the schema are a tool error; the endpoint is never called with them", async () => {
      const before = endpoint.received.length;
      const { status, body } = await rpc(await post(modern(23, "tools/call", { name: "echo", arguments: { text: 42 } }), headers("tools/call", { "Mcp-Name": "echo" })));
      expect(status).toBe(200);
      expect(body.result).toMatchObject({ isError: true });
      expect(JSON.stringify(body.result)).toContain("Invalid arguments for tool echo");
      expect(endpoint.received.length).toBe(before);
    });
  });

  describe("Streamable HTTP: bad input gets the protocol's error answer", () => {
    const ping = JSON.stringify({ jsonrpc: "2.0", id: 7, method: "ping" });

    it("malformed JSON -> 400 parse error", async () => {
      const res = await post("{not json");
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "Parse error: the request body is not valid JSON" } });
    });

    it("JSON that is not JSON-RPC -> 400 invalid request", async () => {
      for (const body of ['{"hello":"world"}', '{"jsonrpc":"1.0","id":3,"method":"ping"}', "[]", "42"]) {
        const res = await post(body);
        expect(res.status, body).toBe(400);
        expect((await res.json()).error.code, body).toBe(-32600);
      }
    });

    it("wrong Content-Type -> 415, wrong Accept -> 406", async () => {
      const ct = await post(ping, { "Content-Type": "text/plain" });
      expect(ct.status).toBe(415);
      expect((await ct.json()).error.message).toBe("Unsupported Media Type: Content-Type must be application/json");
      const accept = await post(ping, { Accept: "application/json" });
      expect(accept.status).toBe(406);
      expect((await accept.json()).error.message).toBe(
        "Not Acceptable: the Accept header must list application/json and text/event-stream",
      );
      const charset = await post(ping, { "Content-Type": "application/json; charset=utf-8" });
      expect(charset.status).toBe(200);
    });

    it("an oversized body -> 413 JSON-RPC error", async () => {
      const big = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping", params: { pad: "x".repeat(MAX_BODY_BYTES) } });
      const res = await post(big);
      expect(res.status).toBe(413);
      expect((await res.json()).error.message).toBe(`Payload Too Large: the request body must not exceed ${MAX_BODY_BYTES} bytes`);
      // The endpoint (and the client's next connection) keeps working.
      expect((await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }))).status).toBe(200);
    });

    it("an unknown method -> JSON-RPC method not found (2025 era: in-band, HTTP 200)", async () => {
      for (const method of ["sampling/createMessage", "constructor", "__proto__", "toString", "hasOwnProperty"]) {
        const res = await post(JSON.stringify({ jsonrpc: "2.0", id: "x", method }));
        expect(res.status, method).toBe(200);
        expect(await res.json(), method).toEqual({ jsonrpc: "2.0", id: "x", error: { code: -32601, message: "Method not found" } });
      }
    });

    it("a batch with Object.prototype method names keeps every answer", async () => {
      const batch = ["constructor", "__proto__", "toString", "tools/list", "valueOf"].map((method, id) => ({ jsonrpc: "2.0", id, method, params: {} }));
      const res = await post(JSON.stringify(batch));
      expect(res.status).toBe(200);
      const answers = (await res.json()) as { id: number; error?: { code: number }; result?: unknown }[];
      expect(answers.map((a) => a.id)).toEqual([0, 1, 2, 3, 4]);
      expect(answers.filter((a) => a.error?.code === -32601).map((a) => a.id)).toEqual([0, 1, 2, 4]);
      expect(answers[3]!.result).toMatchObject({ tools: [{ name: "broken" }, { name: "echo" }] });
    });

    it("tools/call without a tool name -> invalid params", async () => {
      const res = await post(JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { arguments: {} } }));
      const body = await res.json();
      // The SDK's own params validation answers, in-band (HTTP 200), naming the field.
      expect(res.status).toBe(200);
      expect(body).toMatchObject({ jsonrpc: "2.0", id: 2, error: { code: -32602 } });
      expect(body.error.message).toMatch(/^Invalid tools\/call request: .*"name"/s);
    });

    it("an unsupported MCP-Protocol-Version -> 400", async () => {
      const res = await post(ping, { "MCP-Protocol-Version": "1999-01-01" });
      expect(res.status).toBe(400);
      expect((await res.json()).error.message).toMatch(/^Bad Request: unsupported MCP-Protocol-Version 1999-01-01/);
    });

    it("GET and DELETE -> 405 (stateless: no stream, no session)", async () => {
      for (const method of ["GET", "DELETE"]) {
        const res = await fetch(mcpUrl, {
          method,
          headers: { Accept: "text/event-stream", Authorization: `Bearer ${access.tokens.accessToken}` },
        });
        expect(res.status, method).toBe(405);
        expect(res.headers.get("allow")).toBe("POST, OPTIONS");
      }
    });

    it("notifications only -> 202 with no body; a batch -> an array of answers", async () => {
      const note = await post(JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }));
      expect(note.status).toBe(202);
      expect(await note.text()).toBe("");
      const batch = await post(
        JSON.stringify([
          { jsonrpc: "2.0", id: 1, method: "ping" },
          { jsonrpc: "2.0", method: "notifications/initialized" },
          { jsonrpc: "2.0", id: 2, method: "tools/list" },
        ]),
      );
      const answers = await batch.json();
      expect(answers.map((a: { id: number }) => a.id)).toEqual([1, 2]);
      expect(answers[1].result.tools).toHaveLength(2);
    });
  });

  describe("Origin validation and CORS", () => {
    it("refuses a plain-http foreign Origin (DNS rebinding) with 403", async () => {
      const res = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }), { Origin: "http://evil.example.com" });
      expect(res.status).toBe(403);
      const nul = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }), { Origin: "null" });
      expect(nul.status).toBe(403);
    });

    it("serves https and loopback browser clients with CORS headers, 401 challenge included", async () => {
      const res = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }), { Origin: "https://client.example" });
      expect(res.status).toBe(200);
      expect(res.headers.get("access-control-allow-origin")).toBe("https://client.example");
      expect(res.headers.get("access-control-expose-headers")).toBe("WWW-Authenticate, Mcp-Session-Id, DPoP-Nonce");
      const local = await fetch(mcpUrl, { method: "POST", headers: { ...MCP_HEADERS, Origin: "http://localhost:6274" }, body: "{}" });
      expect(local.status).toBe(401);
      expect(local.headers.get("access-control-allow-origin")).toBe("http://localhost:6274");
    });

    it("answers a preflight", async () => {
      const res = await fetch(mcpUrl, {
        method: "OPTIONS",
        headers: { Origin: "https://client.example", "Access-Control-Request-Method": "POST" },
      });
      expect(res.status).toBe(204);
      expect(res.headers.get("access-control-allow-origin")).toBe("https://client.example");
      expect(res.headers.get("access-control-allow-headers")).toBe(
        "authorization, content-type, mcp-protocol-version, mcp-session-id, last-event-id, dpop",
      );
      expect(res.headers.get("access-control-allow-methods")).toBe("GET, POST, DELETE, OPTIONS");
    });
  });

  describe("grant last use", () => {
    it("is kept in memory and written in one flush, not per request", async () => {
      const fresh = await grantAccess(ctx, seeded, ["echo"]);
      const lastUsed = async () =>
        (await ctx.queryRows<{ last_used_at: number | null }>("select last_used_at from grants where id = ?", fresh.grantId))[0]!.last_used_at;
      for (let i = 0; i < 3; i++) {
        const res = await post(JSON.stringify({ jsonrpc: "2.0", id: i, method: "ping" }), {}, fresh.tokens.accessToken);
        expect(res.status).toBe(200);
      }
      expect(await lastUsed()).toBeNull();
      await flushLastUsed(ctx);
      expect(await lastUsed()).toBe(ctx.now());
    });
  });
});
