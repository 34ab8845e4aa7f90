/**
 * The MCP SDK v2 client against a running Toolgate: a real HTTP server whose PUBLIC_URL is its own
 * address (the issuer must be what clients reach), a tool endpoint, and a server with tools. The
 * context's clock is the real one: SDK clients sign assertions and proofs with Date.now().
 */
import { afterEach, beforeEach } from "vitest";
import { Client, StreamableHTTPClientTransport, type OAuthClientProvider } from "@modelcontextprotocol/client";
import type { RunningServer } from "~/http/server.server";
import { mcpResourceUrl } from "~/oauth/metadata.server";
import { startServerWithIssuer } from "./http";
import type { TestContext } from "./context";
import { echoSchema, seedServer, startToolEndpoint } from "./mcp";

export type V2World = {
  ctx: TestContext;
  server: RunningServer;
  endpoint: Awaited<ReturnType<typeof startToolEndpoint>>;
  seeded: { userId: string; serverId: string };
  issuer: string;
  mcpUrl: string;
};

/** Per test: the world above, torn down afterwards. `env` may be a function of the issuer URL. */
export function useV2World(env: Record<string, string> | (() => Record<string, string>), use: (world: V2World) => void): void {
  let world: V2World | undefined;
  beforeEach(async () => {
    const { ctx, server, issuer } = await startServerWithIssuer(typeof env === "function" ? env() : env);
    ctx.now = () => Date.now();
    const endpoint = await startToolEndpoint();
    const seeded = await seedServer(ctx, endpoint.url, [
      { name: "echo", description: "Echoes its text", inputSchema: echoSchema, path: "/echo" },
      { name: "delete_everything", description: "Not for machines", path: "/echo" },
    ]);
    world = { ctx, server, endpoint, seeded, issuer, mcpUrl: mcpResourceUrl(ctx, seeded.serverId) };
    use(world);
  });
  afterEach(async () => {
    await world?.server.close(100);
    await world?.endpoint.close();
    world?.ctx.cleanup();
  });
}

/** The SDK v2 client, authenticating through `provider` (its own auth flow runs on the first 401). */
export async function connectV2(mcpUrl: string, provider: OAuthClientProvider) {
  const client = new Client({ name: "toolgate-v2-test", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
  await client.connect(transport);
  return { client, transport };
}
