/**
 * One long-lived SDK server per era behind the in-process transport (docs/decisions/008, 035)
 * must answer exactly as the SDK's own per-request serving does: a fresh server on the SDK's
 * single-exchange `PerRequestHTTPServerTransport` for 2026-07-28, a fresh server for the 2025 era.
 * Requests from many clients share the server; cancellation still reaches the handler.
 */
import { PerRequestHTTPServerTransport, Server, type JSONRPCRequest, type ServerOptions } from "@modelcontextprotocol/server";
import { describe, expect, it } from "vitest";
import { DispatchTransport, sdkRequestEntry } from "~/mcp/dispatch-transport.server";
import { EraServer, TOOLS_LIST_CACHE_HINT } from "~/mcp/mcp-server.server";
import { LEGACY_REVISIONS, MODERN_REVISION } from "~/mcp/revisions.server";

const authInfo = { token: "", clientId: "c1", scopes: ["mcp:tools"], extra: { grantId: "g1" } };
const options: ServerOptions = {
  capabilities: { tools: {} },
  supportedProtocolVersions: [MODERN_REVISION, ...LEGACY_REVISIONS],
  cacheHints: { "tools/list": TOOLS_LIST_CACHE_HINT },
};
const classification = { era: "modern" as const, revision: MODERN_REVISION };

function withHandlers(server: Server) {
  let lastSignal: AbortSignal | undefined;
  server.setRequestHandler("tools/list", (_request, context) => ({
    tools: [{ name: "echo", description: `for ${(context.http?.authInfo?.extra as { grantId: string }).grantId}`, inputSchema: { type: "object" as const } }],
  }));
  server.setRequestHandler("tools/call", (request, context) => {
    lastSignal = context.mcpReq.signal;
    if (request.params.name === "slow") {
      return new Promise((resolve) => context.mcpReq.signal.addEventListener("abort", () => resolve({ content: [] })));
    }
    return { content: [{ type: "text" as const, text: String(request.params.arguments?.text ?? "") }] };
  });
  return () => lastSignal;
}

function longLived(era: "modern" | "legacy", direct = true) {
  const server = new EraServer({ name: "Test server", version: "1.0.0" }, options, era === "modern" ? MODERN_REVISION : undefined);
  const signal = withHandlers(server);
  const transport = new DispatchTransport(era === "modern" ? classification : undefined);
  void server.connect(transport);
  transport.useRequestEntry(direct ? sdkRequestEntry(server) : null);
  return { transport, signal };
}

/** The SDK's own way: a fresh server per request on its single-exchange transport. */
async function perRequestModern(message: JSONRPCRequest) {
  const server = new Server({ name: "Test server", version: "1.0.0" }, options);
  withHandlers(server);
  const transport = new PerRequestHTTPServerTransport({ classification, responseMode: "json" });
  await server.connect(transport);
  const response = await transport.handleMessage(message, { authInfo });
  return { status: response.status, answer: await response.json() };
}

const envelope = {
  "io.modelcontextprotocol/protocolVersion": MODERN_REVISION,
  "io.modelcontextprotocol/clientInfo": { name: "t", version: "1" },
  "io.modelcontextprotocol/clientCapabilities": {},
};
const modern = (id: number, method: string, params: Record<string, unknown> = {}): JSONRPCRequest => ({
  jsonrpc: "2.0",
  id,
  method,
  params: { ...params, _meta: envelope },
});

const modernRequests: JSONRPCRequest[] = [
  modern(1, "server/discover"),
  modern(2, "tools/list"),
  modern(3, "tools/call", { name: "echo", arguments: { text: "hi" } }),
  modern(4, "tools/call", { arguments: {} }),
  modern(5, "resources/list"),
  modern(6, "logging/setLevel", { level: "info" }),
  modern(7, "initialize", { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "t", version: "1" } }),
  modern(8, "constructor"),
  modern(9, "__proto__"),
];

describe("long-lived SDK servers behind DispatchTransport", () => {
  it("uses the SDK's request entry with this SDK version, and it answers as the SDK's onmessage does", async () => {
    expect(sdkRequestEntry(new Server({ name: "s", version: "1" }, options))).toBeTypeOf("function");
    for (const era of ["modern", "legacy"] as const) {
      const direct = longLived(era).transport;
      const classic = longLived(era, false).transport;
      expect(direct.direct).toBe(true);
      expect(classic.direct).toBe(false);
      for (const request of era === "modern" ? modernRequests : [{ jsonrpc: "2.0" as const, id: 1, method: "tools/list", params: {} }, { jsonrpc: "2.0" as const, id: 2, method: "nope" }]) {
        expect(await direct.dispatch(request, authInfo).answer, request.method).toEqual(await classic.dispatch(request, authInfo).answer);
      }
    }
  });

  it("2026-07-28: every answer equals the SDK's per-request serving, and gate errors are told apart", async () => {
    const { transport } = longLived("modern");
    for (const request of modernRequests) {
      const ours = await transport.dispatch(request, authInfo).answer;
      const sdk = await perRequestModern(request);
      expect(ours.answer, request.method).toEqual(sdk.answer);
      // The SDK's per-request transport answers gate errors with their HTTP status (404 for an
      // unknown method); the endpoint does the same from `beforeHandler`.
      expect(ours.beforeHandler, request.method).toBe(sdk.status !== 200);
    }
    const list = (await transport.dispatch(modernRequests[1]!, authInfo).answer).answer;
    expect(list).toMatchObject({
      result: { tools: [{ description: "for g1" }], resultType: "complete", ttlMs: 0, cacheScope: "private", _meta: { "io.modelcontextprotocol/serverInfo": { name: "Test server" } } },
    });
  });

  it("2025 era: initialize, ping, tools and unknown methods as a fresh SDK server answers them", async () => {
    const { transport } = longLived("legacy");
    const requests: JSONRPCRequest[] = [
      { jsonrpc: "2.0", id: "init", method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } } },
      { jsonrpc: "2.0", id: 1, method: "ping" },
      { jsonrpc: "2.0", id: 2, method: "tools/list", params: {} },
      { jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "echo", arguments: { text: "hi" } } },
      { jsonrpc: "2.0", id: 4, method: "tools/call", params: { arguments: {} } },
      { jsonrpc: "2.0", id: 5, method: "server/discover", params: {} },
      { jsonrpc: "2.0", id: 6, method: "toString", params: {} },
    ];
    for (const request of requests) {
      const fresh = longLived("legacy").transport;
      const a = await transport.dispatch(request, authInfo).answer;
      const b = await fresh.dispatch(request, authInfo).answer;
      expect(a.answer, request.method).toEqual(b.answer);
      expect(a.answer.id).toBe(request.id);
    }
    expect((await transport.dispatch(requests[0]!, authInfo).answer).answer).toMatchObject({ result: { protocolVersion: "2025-06-18" } });
    expect((await transport.dispatch(requests[5]!, authInfo).answer).answer).toMatchObject({ error: { code: -32601 } });
    expect((await transport.dispatch(requests[4]!, authInfo).answer).answer).toMatchObject({ error: { code: -32602 } });
  });

  it("two clients using the same request id get their own answers", async () => {
    const { transport } = longLived("legacy");
    const call = (text: string): JSONRPCRequest => ({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "echo", arguments: { text } } });
    const [a, b] = await Promise.all([transport.dispatch(call("a"), authInfo).answer, transport.dispatch(call("b"), authInfo).answer]);
    expect(a.answer).toMatchObject({ id: 1, result: { content: [{ text: "a" }] } });
    expect(b.answer).toMatchObject({ id: 1, result: { content: [{ text: "b" }] } });
  });

  it.each(["modern", "legacy"] as const)("cancel() aborts the handler's signal (%s)", async (era) => {
    const { transport, signal } = longLived(era);
    const message = era === "modern" ? modern(9, "tools/call", { name: "slow", arguments: {} }) : { jsonrpc: "2.0" as const, id: 9, method: "tools/call", params: { name: "slow", arguments: {} } };
    const { answer, cancel } = transport.dispatch(message, authInfo);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(signal()?.aborted).toBe(false);
    cancel();
    expect((await answer).answer).toMatchObject({ id: 9, error: { message: "The request was cancelled" } });
    expect(signal()?.aborted).toBe(true);
  });
});
