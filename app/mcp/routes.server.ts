/** Registers the MCP endpoint, `/mcp/<serverId>`, as a protocol route (served before Remix). */
import { nodeProtocolRoute, protocolRoute } from "~/http/protocol.server";
import { handleMcpRequest, serveMcpNode } from "./endpoint.server";

const MCP_PATH = /^\/mcp\/([A-Za-z0-9_-]{1,64})$/;

protocolRoute(MCP_PATH, (request, ctx) => {
  const serverId = MCP_PATH.exec(new URL(request.url).pathname)![1]!;
  return handleMcpRequest(request, ctx, serverId);
});

// The same endpoint without fetch objects, used by the Node server (the hot path).
nodeProtocolRoute(MCP_PATH, (req, res, ctx, _info, match) => serveMcpNode(req, res, ctx, match[1]!));
