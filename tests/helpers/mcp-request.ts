/**
 * A raw MCP initialize request with a bearer token, for tests that check how the MCP endpoint
 * answers a token (200, or 401 with WWW-Authenticate). Shared by the integration and browser suites,
 * so it imports nothing from the app.
 */
export function mcpInitialize(mcpUrl: string, accessToken: string): Promise<Response> {
  return fetch(mcpUrl, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${accessToken}`,
      "Content-Type": "application/json",
      Accept: "application/json, text/event-stream",
      "MCP-Protocol-Version": "2025-06-18",
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "test", version: "1" } },
    }),
  });
}
