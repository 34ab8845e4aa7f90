/** Builders for MCP endpoint tests: a real tool endpoint, real rows and real tokens (no mocks). */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { createUser } from "~/auth/users.server";
import { eq } from "drizzle-orm";
import { grants, grantTools, oauthClients, tools } from "~/db/schema";
import { createFamily, mintTokens, type IssuedTokens } from "~/oauth/tokens.server";
import { createServer } from "~/servers/servers.server";
import { newId } from "~/utils/crypto.server";
import type { TestContext } from "./context";

export type Received = { path: string; body: string };

/**
 * A tool endpoint on 127.0.0.1: `/echo` answers with the arguments it got, `/fail` answers 500,
 * `/mcp-text` answers an MCP tool result, `/slow` never answers. Every request is recorded.
 */
export async function startToolEndpoint() {
  const received: Received[] = [];
  /** Calls to /slow whose connection Toolgate closed before an answer (a cancelled tool call). */
  const abandoned: string[] = [];
  const server = http.createServer((req, res) => {
    if (req.url === "/slow") {
      // Never answers; notes when the caller gives up.
      received.push({ path: "/slow", body: "" });
      res.on("close", () => abandoned.push(req.url ?? ""));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      received.push({ path: req.url ?? "", body });
      if (req.url === "/fail") {
        res.writeHead(500, { "Content-Type": "text/plain" }).end("the backend is down");
      } else if (req.url === "/mcp-text") {
        res
          .writeHead(200, { "Content-Type": "application/json" })
          .end(JSON.stringify({ content: [{ type: "text", text: "This is a simple text response for testing." }] }));
      } else if (req.url === "/mcp-error") {
        res
          .writeHead(200, { "Content-Type": "application/json" })
          .end(JSON.stringify({ isError: true, content: [{ type: "text", text: "This tool intentionally returns an error for testing" }] }));
      } else {
        res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ echoed: JSON.parse(body || "{}") }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    abandoned,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export const echoSchema = {
  type: "object",
  properties: { text: { type: "string", minLength: 1 } },
  required: ["text"],
  additionalProperties: false,
};

let n = 0;

export type ToolSpec = { name: string; description?: string; inputSchema?: Record<string, unknown>; path: string };

/** A user with one MCP server holding `tools`, whose endpoints live under `endpointUrl`. */
export async function seedServer(ctx: TestContext, endpointUrl: string, tools: ToolSpec[], name = "Notes") {
  const user = await createUser(ctx, { email: `mcp-${n++}-${newId().slice(0, 6)}@example.test`, password: null });
  const { server } = await createServer(ctx, {
    ownerId: user.id,
    name,
    description: `The ${name} server`,
    tools: tools.map((t) => ({
      name: t.name,
      description: t.description ?? `The ${t.name} tool`,
      inputSchema: t.inputSchema ?? { type: "object" },
      endpoint: { url: `${endpointUrl}${t.path}` },
    })),
  });
  return { userId: user.id, serverId: server.id };
}

/** A registered client, a grant covering `toolNames` of the server, and a fresh token pair. */
export async function grantAccess(
  ctx: TestContext,
  seeded: { userId: string; serverId: string },
  toolNames: string[],
  scope = "mcp:tools",
): Promise<{ grantId: string; clientId: string; tokens: IssuedTokens }> {
  const now = ctx.now();
  const clientId = newId();
  await ctx.db
    .insert(oauthClients)
    .values({
      id: clientId,
      kind: "registered",
      clientName: "Test Client",
      redirectUris: JSON.stringify(["http://127.0.0.1:9/callback"]),
      metadata: "{}",
      createdAt: now,
    });
  const grantId = newId();
  await ctx.db
    .insert(grants)
    .values({ id: grantId, userId: seeded.userId, clientId, serverId: seeded.serverId, scope, createdAt: now, updatedAt: now });
  const toolRows = await ctx.db.select({ id: tools.id, name: tools.name }).from(tools).where(eq(tools.serverId, seeded.serverId));
  for (const tool of toolRows.filter((t) => toolNames.includes(t.name))) {
    await ctx.db.insert(grantTools).values({ grantId, toolId: tool.id });
  }
  const tokens = await ctx.store.transaction(async (tx) => {
    const familyId = await createFamily(ctx, tx, grantId);
    return mintTokens(ctx, tx, { grantId, familyId, clientId, userId: seeded.userId, serverId: seeded.serverId, scope });
  });
  return { grantId, clientId, tokens };
}

/** The real SDK client, connected with a bearer token in every request. */
export async function connectClient(mcpUrl: string, accessToken: string) {
  const client = new Client({ name: "toolgate-test", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), {
    requestInit: { headers: { Authorization: `Bearer ${accessToken}` } },
  });
  await client.connect(transport);
  return client;
}
