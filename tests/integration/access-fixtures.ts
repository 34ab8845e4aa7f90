/** Data builders for the access tests: real rows through the real token module, no mocks. */
import { createUser } from "~/auth/users.server";
import { createUserSession } from "~/auth/session.server";
import { grants, grantTools, mcpServers, oauthClients, tools } from "~/db/schema";
import { createFamily, mintTokens, type IssuedTokens } from "~/oauth/tokens.server";
import { newId } from "~/utils/crypto.server";
import type { TestContext } from "../helpers/context";

let n = 0;

export async function makeUser(ctx: TestContext, prefix = "user") {
  const user = await createUser(ctx, { email: `${prefix}-${n++}-${newId().slice(0, 6)}@example.test`, password: null });
  const setCookie = await createUserSession(ctx, new Request("http://localhost:3000/"), user.id);
  return { id: user.id, email: user.email, cookie: setCookie.split(";")[0]! };
}

export async function makeServer(ctx: TestContext, ownerId: string, name = "Weather", toolNames = ["forecast", "alerts", "radar"]) {
  const id = newId();
  const now = ctx.now();
  await ctx.db
    .insert(mcpServers)
    .values({ id, ownerId, name, description: "", signingSecretEnc: "unused-in-these-tests", createdAt: now, updatedAt: now });
  const toolIds: Record<string, string> = {};
  for (const toolName of toolNames) toolIds[toolName] = await addTool(ctx, id, toolName);
  return { id, name, toolIds };
}

export async function addTool(ctx: TestContext, serverId: string, name: string): Promise<string> {
  const id = newId();
  const now = ctx.now();
  await ctx.db
    .insert(tools)
    .values({
      id,
      serverId,
      name,
      description: `The ${name} tool`,
      inputSchema: JSON.stringify({ type: "object" }),
      endpointUrl: "http://127.0.0.1:9/unused",
      createdAt: now,
      updatedAt: now,
    });
  return id;
}

export async function makeClient(
  ctx: TestContext,
  options: { name?: string; kind?: "registered" | "metadata_document"; id?: string; redirectUris?: string[] } = {},
) {
  const kind = options.kind ?? "registered";
  const id = options.id ?? (kind === "metadata_document" ? `https://app-${newId().slice(0, 8)}.example/client.json` : newId());
  const redirectUris = options.redirectUris ?? ["http://127.0.0.1:33418/callback"];
  await ctx.db
    .insert(oauthClients)
    .values({
      id,
      kind,
      clientName: options.name ?? "Claude Desktop",
      redirectUris: JSON.stringify(redirectUris),
      metadata: JSON.stringify({ client_name: options.name ?? "Claude Desktop", redirect_uris: redirectUris }),
      createdAt: ctx.now(),
    });
  return { id };
}

export type GrantFixture = { grantId: string; familyId: string; tokens: IssuedTokens };

/** A grant on `serverId` for `toolIds` with one token family and a fresh token pair, as /token would leave it. */
export async function makeGrant(
  ctx: TestContext,
  args: { userId: string; clientId: string; serverId: string; toolIds: string[] },
): Promise<GrantFixture> {
  return ctx.store.transaction(async (tx) => {
    const grantId = newId();
    const now = ctx.now();
    await tx.insert(grants)
      .values({ id: grantId, userId: args.userId, clientId: args.clientId, serverId: args.serverId, scope: "mcp:tools", createdAt: now, updatedAt: now });
    for (const toolId of args.toolIds) await tx.insert(grantTools).values({ grantId, toolId });
    const familyId = await createFamily(ctx, tx, grantId);
    const tokens = await mintTokens(ctx, tx, {
      grantId,
      familyId,
      clientId: args.clientId,
      userId: args.userId,
      serverId: args.serverId,
      scope: "mcp:tools",
    });
    return { grantId, familyId, tokens };
  });
}

/** Adds a second token family (another device) to a grant. */
export async function addFamily(ctx: TestContext, grant: { grantId: string }, subject: { clientId: string; userId: string; serverId: string }) {
  return ctx.store.transaction(async (tx) => {
    const familyId = await createFamily(ctx, tx, grant.grantId);
    return mintTokens(ctx, tx, { grantId: grant.grantId, familyId, scope: "mcp:tools", ...subject });
  });
}
