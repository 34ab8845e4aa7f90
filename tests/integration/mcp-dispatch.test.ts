/**
 * The in-process transport hands requests straight to the SDK's request entry (skipping only the
 * SDK's message classification, docs/decisions/008-mcp-transport.md). The answers must be exactly
 * those of the SDK's own path through `transport.onmessage`, for good and bad requests alike, and
 * cancellation must still reach the handler.
 */
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import {
  CallToolRequestSchema,
  LATEST_PROTOCOL_VERSION,
  ListToolsRequestSchema,
  type JSONRPCRequest,
} from "@modelcontextprotocol/sdk/types.js";
import { describe, expect, it } from "vitest";
import { DispatchTransport, sdkRequestEntry } from "~/mcp/dispatch-transport.server";

const authInfo = { token: "", clientId: "c1", scopes: ["mcp:tools"], extra: { grantId: "g1" } };

function connected(direct: boolean) {
  const server = new Server({ name: "Test server", version: "1.0.0" }, { capabilities: { tools: {} } });
  let lastSignal: AbortSignal | undefined;
  server.setRequestHandler(ListToolsRequestSchema, (_request, extra) => ({
    tools: [{ name: "echo", description: `for ${(extra.authInfo?.extra as { grantId: string }).grantId}`, inputSchema: { type: "object" } }],
  }));
  server.setRequestHandler(CallToolRequestSchema, (request, extra) => {
    lastSignal = extra.signal;
    if (request.params.name === "slow") {
      return new Promise((resolve) => extra.signal.addEventListener("abort", () => resolve({ content: [] })));
    }
    return { content: [{ type: "text", text: String(request.params.arguments?.text ?? "") }] };
  });
  const transport = new DispatchTransport();
  void server.connect(transport);
  transport.useRequestEntry(direct ? sdkRequestEntry(server) : null);
  return { transport, signal: () => lastSignal };
}

const requests: JSONRPCRequest[] = [
  {
    jsonrpc: "2.0",
    id: "init",
    method: "initialize",
    params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: "t", version: "1" } },
  },
  { jsonrpc: "2.0", id: 1, method: "ping" },
  { jsonrpc: "2.0", id: 2, method: "tools/list", params: {} },
  { jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "echo", arguments: { text: "hi" } } },
  { jsonrpc: "2.0", id: 4, method: "tools/call", params: { arguments: {} } },
  { jsonrpc: "2.0", id: 5, method: "resources/list", params: {} },
  { jsonrpc: "2.0", id: 6, method: "tools/list", params: { cursor: 12 } },
];

describe("DispatchTransport", () => {
  it("uses the SDK's request entry with this SDK version", () => {
    const server = new Server({ name: "s", version: "1" }, { capabilities: { tools: {} } });
    expect(sdkRequestEntry(server)).toBeTypeOf("function");
    expect(connected(true).transport.direct).toBe(true);
    expect(connected(false).transport.direct).toBe(false);
  });

  it("answers every request exactly as the SDK's own message path does", async () => {
    const direct = connected(true).transport;
    const classic = connected(false).transport;
    for (const request of requests) {
      const a = await direct.dispatch(request, authInfo).answer;
      const b = await classic.dispatch(request, authInfo).answer;
      expect(a).toEqual(b);
      expect(a.id).toBe(request.id);
    }
    const list = await direct.dispatch(requests[2]!, authInfo).answer;
    expect(list).toMatchObject({ result: { tools: [{ name: "echo", description: "for g1" }] } });
    const unknown = await direct.dispatch(requests[5]!, authInfo).answer;
    expect(unknown).toMatchObject({ error: { code: -32601 } });
  });

  it("two clients using the same request id get their own answers", async () => {
    const { transport } = connected(true);
    const call = (text: string): JSONRPCRequest => ({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "echo", arguments: { text } } });
    const [a, b] = await Promise.all([transport.dispatch(call("a"), authInfo).answer, transport.dispatch(call("b"), authInfo).answer]);
    expect(a).toMatchObject({ id: 1, result: { content: [{ text: "a" }] } });
    expect(b).toMatchObject({ id: 1, result: { content: [{ text: "b" }] } });
  });

  it("cancel() aborts the handler's signal on the direct path", async () => {
    const { transport, signal } = connected(true);
    const { answer, cancel } = transport.dispatch(
      { jsonrpc: "2.0", id: 9, method: "tools/call", params: { name: "slow", arguments: {} } },
      authInfo,
    );
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(signal()?.aborted).toBe(false);
    cancel();
    expect(await answer).toMatchObject({ id: 9, error: { message: "The request was cancelled" } });
    expect(signal()?.aborted).toBe(true);
  });
});
