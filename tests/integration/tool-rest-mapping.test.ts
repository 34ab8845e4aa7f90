import http from "node:http";
import type { AddressInfo } from "node:net";
import { createHmac } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createUser } from "~/auth/users.server";
import { clearApiCredential, setApiCredential, setBaseUrl, type ApiCredential } from "~/servers/api-credentials.server";
import { buildRestRequest, encodeUnreserved } from "~/servers/rest-request.server";
import { addTool, createServer, getServer, readSigningSecret, updateTool, ValidationError } from "~/servers/servers.server";
import { executeTool, listToolsForServer, toMcpTool } from "~/servers/tool-execution.server";
import dns from "node:dns";
import { vi } from "vitest";
import { cachedLookup, closeUpstreamPools, DNS_TTL_MS } from "~/servers/upstream-http.server";
import { createTestContext, type TestContext } from "../helpers/context";

type Received = { method: string; url: string; headers: http.IncomingHttpHeaders; body: string };

/** A real upstream on 127.0.0.1 that records requests and answers JSON. */
async function startUpstream(answer: (r: Received, res: http.ServerResponse) => void = (_r, res) => res.end('{"ok":true}')) {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const r = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") };
      received.push(r);
      res.setHeader("Content-Type", "application/json");
      answer(r, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const build = (over: Partial<Parameters<typeof buildRestRequest>[0]>) =>
  buildRestRequest({ url: "/items/{id}", method: "GET", params: { id: { in: "path" } }, args: {}, baseUrl: "https://api.example.test/v1", credential: null, ...over });

describe("REST mapping: request building (RFC 6570 simple expansion, OpenAPI form style)", () => {
  it("path arguments are encoded, never interpreted", async () => {
    const cases: [string, string][] = [
      ["../admin", "..%2Fadmin"],
      ["a/b", "a%2Fb"],
      ["%2f", "%252f"],
      ["x?y=1", "x%3Fy%3D1"],
      ["x#frag", "x%23frag"],
      ["a b", "a%20b"],
      ["it's(1)*!", "it%27s%281%29%2A%21"],
      ["é", "%C3%A9"],
      ["a&b=c", "a%26b%3Dc"],
      ["..%2F..%2F", "..%252F..%252F"],
      ["\\..\\", "%5C..%5C"],
      ["~._-", "~._-"],
    ];
    for (const [value, encoded] of cases) {
      const result = build({ args: { id: value } });
      expect(result.ok, value).toBe(true);
      if (result.ok) expect(result.target.path, value).toBe(`/v1/items/${encoded}`);
    }
  });

  it('"." and ".." (dot-segments) and empty path values are refused, not sent', async () => {
    for (const value of [".", "..", ""]) {
      const result = build({ args: { id: value } });
      expect(result.ok, value).toBe(false);
    }
    expect(build({ args: {} })).toEqual({ ok: false, message: "The argument id is required (it is part of the URL path)." });
  });

  it("query arrays: repeated with explode true (the default), comma-joined with explode false", async () => {
    const exploded = build({ url: "/items", params: { tag: { in: "query" } }, args: { tag: ["a", "b,c", "d&e"] } });
    expect(exploded.ok && exploded.target.path).toBe("/v1/items?tag=a&tag=b%2Cc&tag=d%26e");
    const joined = build({ url: "/items", params: { tag: { in: "query", explode: false } }, args: { tag: ["a", "b,c", "d"] } });
    expect(joined.ok && joined.target.path).toBe("/v1/items?tag=a,b%2Cc,d");
    const renamed = build({ url: "/items", params: { pageSize: { in: "query", name: "page[size]" } }, args: { pageSize: 5 } });
    expect(renamed.ok && renamed.target.path).toBe("/v1/items?page%5Bsize%5D=5");
    const empty = build({ url: "/items", params: { tag: { in: "query" } }, args: { tag: [] } });
    expect(empty.ok && empty.target.path).toBe("/v1/items");
  });

  it("headers, the JSON body argument, and unmapped arguments", async () => {
    const post = build({
      url: "/items/{id}",
      method: "POST",
      params: { id: { in: "path" }, trace: { in: "header", name: "X-Trace" }, body: { in: "body" } },
      args: { id: 7, trace: "t1", body: { name: "x" } },
    });
    expect(post.ok && post.target).toMatchObject({ path: "/v1/items/7", headers: { "X-Trace": "t1" }, body: '{"name":"x"}' });
    const loose = build({ url: "/items", method: "PATCH", params: { q: { in: "query" } }, args: { q: "z", a: 1, b: [2] } });
    expect(loose.ok && loose.target).toMatchObject({ path: "/v1/items?q=z", body: '{"a":1,"b":[2]}' });
    const get = build({ url: "/items", method: "GET", params: { q: { in: "query" } }, args: { q: "z", extra: "y" } });
    expect(get.ok && get.target).toMatchObject({ path: "/v1/items?q=z&extra=y", body: null });
    const injected = build({ url: "/items", params: { trace: { in: "header", name: "X-Trace" } }, args: { trace: "a\r\nX-Evil: 1" } });
    expect(injected.ok).toBe(false);
  });

  it("arguments named like Object.prototype members are data like any other", async () => {
    const args = JSON.parse('{"constructor":"c","toString":"t","__proto__":{"x":1},"hasOwnProperty":"h"}') as Record<string, unknown>;
    const loose = build({ url: "/items", method: "POST", params: { q: { in: "query" } }, args });
    expect(loose.ok && JSON.parse(loose.target.body!)).toEqual(args);
    const get = build({ url: "/items", method: "GET", params: { q: { in: "query" } }, args: { constructor: "c", toString: "t" } });
    expect(get.ok && get.target.path).toBe("/v1/items?constructor=c&toString=t");
    const header = build({ url: "/items", params: { constructor: { in: "header" as const, name: "X-C" } }, args: { constructor: "v" } });
    expect(header.ok && header.target.headers).toEqual({ "X-C": "v" });
  });

  it("legacy tools (no mapping) send every argument as the JSON body, exactly as before", async () => {
    const result = buildRestRequest({ url: "https://hooks.example.test/run", method: "POST", params: null, args: { a: 1 }, baseUrl: null, credential: null });
    expect(result.ok && result.target).toMatchObject({ origin: "https://hooks.example.test", path: "/run", body: '{"a":1}' });
    const empty = buildRestRequest({ url: "https://hooks.example.test/run", method: "DELETE", params: null, args: {}, baseUrl: null, credential: null });
    expect(empty.ok && empty.target.body).toBe("{}");
  });

  it("the credential goes only to the base URL: same origin and under its path", async () => {
    const credential = { type: "bearer" as const, secret: "tok" };
    const under = build({ args: { id: "1" }, credential });
    expect(under.ok && under.credentialSent).toBe(true);
    const elsewhere = [
      "https://other.example.test/v1/items/{id}",
      "http://api.example.test/v1/items/{id}",
      "https://api.example.test:8443/v1/items/{id}",
      "https://api.example.test/v2/items/{id}",
      "https://api.example.test/v1x/items/{id}",
      "https://api.example.test/v1/../admin/{id}",
      "https://api.example.test/v1/%2e%2e/admin/{id}",
      "https://api.example.test.evil.example/v1/items/{id}",
    ];
    for (const url of elsewhere) {
      const result = build({ url, args: { id: "1" }, credential });
      expect(result.ok, url).toBe(true);
      if (result.ok) {
        expect(result.credentialSent, url).toBe(false);
        expect(JSON.stringify(result.target), url).not.toContain("tok");
      }
    }
    // A path argument cannot climb out of the base path: its slashes and dots are data.
    const climb = build({ args: { id: "../../admin" }, credential });
    expect(climb.ok && climb.target.path).toBe("/v1/items/..%2F..%2Fadmin");
  });

  it("encodeUnreserved leaves only ALPHA DIGIT - . _ ~", async () => {
    let all = "";
    for (let c = 0x20; c < 0x7f; c++) all += String.fromCharCode(c);
    expect(encodeUnreserved(all).replace(/%[0-9A-F]{2}/g, "")).toBe("-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~");
  });
});

describe("REST mapping through executeTool against a real upstream", () => {
  let ctx: TestContext;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let other: Awaited<ReturnType<typeof startUpstream>>;
  let ownerId: string;

  beforeEach(async () => {
    ctx = createTestContext({ TOOLGATE_TOOL_TIMEOUT_MS: "1000", TOOLGATE_TOOL_MAX_RESPONSE_BYTES: "4096" });
    ownerId = (await createUser(ctx, { email: `o-${Math.random()}@example.test` })).id;
    upstream = await startUpstream();
    other = await startUpstream();
  });
  afterEach(async () => {
    closeUpstreamPools();
    await upstream.close();
    await other.close();
    ctx.cleanup();
  });

  async function serverWith(tools: unknown[], baseUrl = `${upstream.url}/api`) {
    const { server } = await createServer(ctx, { ownerId, name: "Shop", baseUrl, tools });
    return server.id;
  }

  const getOrder = {
    name: "get_order",
    description: "One order",
    inputSchema: {
      type: "object",
      properties: { orderId: { type: "string" }, include: { type: "array", items: { type: "string" } }, tenant: { type: "string" } },
      required: ["orderId"],
    },
    endpoint: {
      url: "/orders/{orderId}",
      method: "GET",
      params: { orderId: { in: "path" }, include: { in: "query", explode: false }, tenant: { in: "header", name: "X-Tenant" } },
    },
    annotations: { readOnlyHint: true, title: "Get an order" },
  };

  it("GET with path, query and header arguments, signed, with the API key only upstream", async () => {
    const serverId = await serverWith([getOrder]);
    const credential: ApiCredential = { type: "api-key", in: "header", name: "X-API-Key", secret: "key-SECRET-123" };
    expect(await setApiCredential(ctx, ownerId, serverId, credential)).toBe(true);
    const tool = (await listToolsForServer(ctx, serverId))[0]!;
    const result = await executeTool(ctx, tool, { orderId: "A/../7?x#y", include: ["lines", "notes"], tenant: "acme" });
    expect(result).toEqual({ content: [{ type: "text", text: '{"ok":true}' }] });
    const req = upstream.received[0]!;
    expect(req.method).toBe("GET");
    expect(req.url).toBe("/api/orders/A%2F..%2F7%3Fx%23y?include=lines,notes");
    expect(req.headers["x-tenant"]).toBe("acme");
    expect(req.headers["x-api-key"]).toBe("key-SECRET-123");
    expect(req.headers["content-type"]).toBeUndefined();
    const secret = (await readSigningSecret(ctx, serverId))!;
    const ts = req.headers["x-toolgate-timestamp"] as string;
    expect(req.headers["x-toolgate-signature"]).toBe("sha256=" + createHmac("sha256", secret).update(`${ts}.`).digest("hex"));
    // Never logged, never in the server summary.
    expect(ctx.logs.join("\n")).not.toContain("key-SECRET-123");
    expect(JSON.stringify(await getServer(ctx, ownerId, serverId))).not.toContain("key-SECRET-123");
    expect(toMcpTool(tool)).toMatchObject({ annotations: { readOnlyHint: true, title: "Get an order" }, title: "Get an order" });
  });

  it("API key in the query, bearer and basic credentials; replacing and clearing them", async () => {
    const serverId = await serverWith([getOrder]);
    const call = async () => {
      await executeTool(ctx, (await listToolsForServer(ctx, serverId))[0]!, { orderId: "1" });
      return upstream.received.at(-1)!;
    };
    await setApiCredential(ctx, ownerId, serverId, { type: "api-key", in: "query", name: "api_key", secret: "q s&1" });
    expect((await call()).url).toBe("/api/orders/1?api_key=q%20s%261");
    await setApiCredential(ctx, ownerId, serverId, { type: "bearer", secret: "tok-1" });
    const bearer = await call();
    expect(bearer.headers.authorization).toBe("Bearer tok-1");
    expect(bearer.url).toBe("/api/orders/1");
    await setApiCredential(ctx, ownerId, serverId, { type: "basic", username: "ada", secret: "pw:1" });
    expect((await call()).headers.authorization).toBe(`Basic ${Buffer.from("ada:pw:1").toString("base64")}`);
    await clearApiCredential(ctx, ownerId, serverId);
    expect((await call()).headers.authorization).toBeUndefined();
  });

  it("a tool whose URL moves to another origin stops getting the credential on its next call", async () => {
    const serverId = await serverWith([{ ...getOrder, endpoint: { ...getOrder.endpoint, url: `${upstream.url}/api/orders/{orderId}` } }]);
    await setApiCredential(ctx, ownerId, serverId, { type: "bearer", secret: "tok-only-upstream" });
    const tool = (await listToolsForServer(ctx, serverId))[0]!;
    await executeTool(ctx, tool, { orderId: "1" });
    expect(upstream.received.at(-1)!.headers.authorization).toBe("Bearer tok-only-upstream");
    const moved = (await updateTool(ctx, ownerId, serverId, tool.id, { ...getOrder, endpoint: { ...getOrder.endpoint, url: `${other.url}/api/orders/{orderId}` } }))!;
    await executeTool(ctx, moved, { orderId: "1" });
    expect(other.received.at(-1)!.headers.authorization).toBeUndefined();
    expect(JSON.stringify(other.received)).not.toContain("tok-only-upstream");
    // So does a base URL moved away from the tool's origin.
    const back = (await updateTool(ctx, ownerId, serverId, tool.id, { ...getOrder, endpoint: { ...getOrder.endpoint, url: `${upstream.url}/api/orders/{orderId}` } }))!;
    await setBaseUrl(ctx, ownerId, serverId, `${other.url}/api`);
    await executeTool(ctx, back, { orderId: "2" });
    expect(upstream.received.at(-1)!.headers.authorization).toBeUndefined();
  });

  it("POST with a JSON body argument; output schema gives structuredContent, a mismatch an error", async () => {
    upstream.server.removeAllListeners("request");
    const upstream2 = await startUpstream((r, res) => res.end(r.url.includes("bad") ? '{"id":"x"}' : JSON.stringify({ id: 1, name: JSON.parse(r.body).name })));
    try {
      const serverId = await serverWith(
        [
          {
            name: "create_pet",
            inputSchema: { type: "object", properties: { kind: { type: "string" }, body: { type: "object" } }, required: ["body"] },
            endpoint: { url: "/pets/{kind}", method: "POST", params: { kind: { in: "path" }, body: { in: "body" } } },
            outputSchema: { type: "object", properties: { id: { type: "integer" }, name: { type: "string" } }, required: ["id"] },
          },
        ],
        upstream2.url,
      );
      const tool = (await listToolsForServer(ctx, serverId))[0]!;
      const ok = await executeTool(ctx, tool, { kind: "cat", body: { name: "Tom" } });
      expect(ok).toEqual({ content: [{ type: "text", text: '{"id":1,"name":"Tom"}' }], structuredContent: { id: 1, name: "Tom" } });
      expect(upstream2.received[0]).toMatchObject({ method: "POST", url: "/pets/cat", body: '{"name":"Tom"}' });
      expect(upstream2.received[0]!.headers["content-type"]).toBe("application/json");
      const bad = await executeTool(ctx, tool, { kind: "bad", body: {} });
      expect(bad.isError).toBe(true);
      expect((bad.content[0] as { text: string }).text).toMatch(/does not match the tool's output schema: \/id must be integer/);
    } finally {
      await upstream2.close();
    }
  });

  it("a redirect is not followed: the credential never reaches the redirect's target", async () => {
    const redirecting = await startUpstream((_r, res) => {
      res.writeHead(302, { Location: `${other.url}/steal` });
      res.end();
    });
    try {
      const serverId = await serverWith([getOrder], redirecting.url);
      await setApiCredential(ctx, ownerId, serverId, { type: "bearer", secret: "tok-redirect" });
      const result = await executeTool(ctx, (await listToolsForServer(ctx, serverId))[0]!, { orderId: "1" });
      expect(result.isError).toBe(true);
      expect((result.content[0] as { text: string }).text).toMatch(/^The tool endpoint answered HTTP 302/);
      expect(other.received).toHaveLength(0);
    } finally {
      await redirecting.close();
    }
  });

  it("connections are reused across calls (one keep-alive pool per origin)", async () => {
    const sockets = new Set<unknown>();
    upstream.server.on("connection", (s) => sockets.add(s));
    const serverId = await serverWith([getOrder]);
    const tool = (await listToolsForServer(ctx, serverId))[0]!;
    for (let i = 0; i < 5; i++) await executeTool(ctx, tool, { orderId: String(i) });
    expect(upstream.received).toHaveLength(5);
    expect(sockets.size).toBe(1);
  });

  it("a burst's connections all stay pooled for the next burst (idle sockets kept up to the pool size)", async () => {
    // The upstream answers a burst only once all 32 calls of it arrived: 32 sockets at once.
    let waiting: http.ServerResponse[] = [];
    const held = await startUpstream((_r, res) => {
      waiting.push(res);
      if (waiting.length < 32) return;
      for (const r of waiting) r.end('{"ok":true}');
      waiting = [];
    });
    try {
      const sockets = new Set<unknown>();
      held.server.on("connection", (s) => sockets.add(s));
      const serverId = await serverWith([getOrder], `${held.url}/api`);
      const tool = (await listToolsForServer(ctx, serverId))[0]!;
      const burst = () => Promise.all(Array.from({ length: 32 }, (_, i) => executeTool(ctx, tool, { orderId: String(i) })));
      await burst();
      expect(sockets.size).toBe(32);
      await burst();
      await burst();
      expect(held.received).toHaveLength(96);
      // No connection was closed while idle and opened again for the next burst.
      expect(sockets.size).toBe(32);
    } finally {
      await held.close();
    }
  });

  it("refuses mappings that cannot work, with a message", async () => {
    const serverId = await serverWith([]);
    const bad = async (endpoint: Record<string, unknown>) => {
      try {
        await addTool(ctx, ownerId, serverId, { name: "t", inputSchema: { type: "object" }, endpoint });
        return null;
      } catch (error) {
        return error instanceof ValidationError ? Object.values(error.fieldErrors)[0] : String(error);
      }
    };
    expect(await bad({ url: "/a/{id}", method: "GET", params: { id: { in: "query" } } })).toBe("The argument id is in the URL but mapped to the query.");
    expect(await bad({ url: "/a", params: { id: { in: "path" } } })).toBe("The URL has no {id} placeholder for the path argument id.");
    expect(await bad({ url: "/a", method: "GET", params: { b: { in: "body" } } })).toBe("A GET request has no body; map the argument to the query instead.");
    expect(await bad({ url: "/a", params: { h: { in: "header", name: "Authorization" } } })).toBe("The header Authorization is set by Toolgate and cannot take an argument.");
    expect(await bad({ url: "/a", params: { h: { in: "cookie" } } })).toBe('"in" must be one of path, query, header, body.');
  });
});

describe("upstream DNS cache", () => {
  afterEach(async () => {
    vi.restoreAllMocks();
    vi.useRealTimers();
    closeUpstreamPools();
  });

  it("one lookup per host within the TTL, a new one after it; failures are not cached", async () => {
    const spy = vi.spyOn(dns, "lookup");
    const lookup = (host: string, all: boolean) =>
      new Promise<unknown>((resolve, reject) =>
        cachedLookup(host, { all }, (error: Error | null, address: unknown) => (error ? reject(error) : resolve(address))),
      );
    vi.useFakeTimers({ toFake: ["performance"] });
    expect(await lookup("localhost", true)).toEqual(expect.arrayContaining([expect.objectContaining({ address: expect.any(String) })]));
    expect(typeof (await lookup("localhost", false))).toBe("string");
    expect(spy).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(DNS_TTL_MS + 1);
    await lookup("localhost", false);
    expect(spy).toHaveBeenCalledTimes(2);
    await expect(lookup("no-such-host.invalid", false)).rejects.toMatchObject({ code: expect.stringMatching(/ENOTFOUND|EAI_AGAIN/) });
    await expect(lookup("no-such-host.invalid", false)).rejects.toBeTruthy();
    expect(spy).toHaveBeenCalledTimes(4);
  });
});

