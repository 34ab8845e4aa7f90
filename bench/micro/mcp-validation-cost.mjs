// Micro-benchmark: CPU cost of the MCP SDK's zod checks that the MCP endpoint runs per request
// (app/mcp/endpoint.server.ts parses the message, classifies it, checks params; the SDK's Server
// validates the request again and the dispatch transport classifies the answer).
// Usage: node bench/micro/mcp-validation-cost.mjs
import {
  isJSONRPCErrorResponse,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  JSONRPCMessageSchema,
  ListToolsRequestSchema,
  CallToolRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";

const list = { jsonrpc: "2.0", id: 1, method: "tools/list", params: {} };
const call = { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "tool_3", arguments: { query: "bench" } } };
const answer = {
  jsonrpc: "2.0",
  id: 1,
  result: {
    tools: Array.from({ length: 10 }, (_, i) => ({
      name: `tool_${i}`,
      description: `Seeded tool ${i}`,
      inputSchema: { type: "object", properties: { query: { type: "string" } }, required: ["query"] },
    })),
  },
};

function time(label, fn, n = 50_000) {
  for (let i = 0; i < 2000; i++) fn();
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) fn();
  const c = process.cpuUsage(c0);
  console.log(`${label.padEnd(60)} ${((c.user + c.system) / n).toFixed(1).padStart(7)} µs CPU`);
}
console.log(`node ${process.version}`);
time("JSONRPCMessageSchema.safeParse(tools/list request)", () => JSONRPCMessageSchema.safeParse(list));
time("isJSONRPCRequest(request)", () => isJSONRPCRequest(list));
time("isJSONRPCNotification(request) (fails: builds issues)", () => isJSONRPCNotification(list));
time("ListToolsRequestSchema.safeParse(request)", () => ListToolsRequestSchema.safeParse(list));
time("CallToolRequestSchema.safeParse(request)", () => CallToolRequestSchema.safeParse(call));
time("isJSONRPCResultResponse(answer with 10 tools)", () => isJSONRPCResultResponse(answer));
time("isJSONRPCErrorResponse(answer) (fails)", () => isJSONRPCErrorResponse(answer));
time("JSON.parse + JSON.stringify of the same messages", () => JSON.stringify(answer) + JSON.parse(JSON.stringify(list)).id);
