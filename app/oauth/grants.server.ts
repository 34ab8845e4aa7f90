/**
 * Grants: a user let a client reach one MCP server, with a set of tools (per-tool consent).
 *
 * There is at most one active grant per user × client × MCP server. Authorizing the same client
 * again (another device, or the same one after a reinstall) updates that grant's tools and scope;
 * it never revokes tokens already issued under it: each code exchange starts its own token family,
 * so the first device keeps working (docs/decisions/019-per-tool-consent.md).
 */
import { and, asc, eq, inArray, isNull } from "drizzle-orm";
import type { AppContext } from "~/context.server";
import { newId } from "~/utils/crypto.server";
import type { Tx } from "./tokens.server";

export type GrantKey = { userId: string; clientId: string; serverId: string };

/** The active (not revoked) grant of a user × client × server, or null. */
export async function findActiveGrant(ctx: AppContext, tx: Tx, key: GrantKey) {
  const { grants } = ctx.store.tables;
  return (
    (await tx
      .select()
      .from(grants)
      .where(
        and(
          eq(grants.userId, key.userId),
          eq(grants.clientId, key.clientId),
          eq(grants.serverId, key.serverId),
          isNull(grants.revokedAt),
        ),
      ).limit(1))[0] ?? null
  );
}

/**
 * Creates the grant, or updates the active one: its scope and its tools become exactly `toolIds`.
 * Call inside the transaction that also issues the code. Returns the grant id and whether it is new.
 */
export async function createOrUpdateGrant(
  ctx: AppContext,
  tx: Tx,
  input: GrantKey & { scope: string; toolIds: string[] },
): Promise<{ grantId: string; created: boolean }> {
  const { grants, grantTools } = ctx.store.tables;
  const now = ctx.now();
  const existing = await findActiveGrant(ctx, tx, input);
  let grantId: string;
  if (existing) {
    grantId = existing.id;
    await tx.update(grants).set({ scope: input.scope, updatedAt: now }).where(eq(grants.id, grantId));
    await tx.delete(grantTools).where(eq(grantTools.grantId, grantId));
  } else {
    grantId = newId();
    await tx.insert(grants)
      .values({
        id: grantId,
        userId: input.userId,
        clientId: input.clientId,
        serverId: input.serverId,
        scope: input.scope,
        createdAt: now,
        updatedAt: now,
      });
  }
  const unique = [...new Set(input.toolIds)];
  if (unique.length > 0) await tx.insert(grantTools).values(unique.map((toolId) => ({ grantId, toolId })));
  return { grantId, created: !existing };
}


/** The tools a grant covers, by name. */
export async function grantedTools(ctx: AppContext, grantId: string): Promise<{ id: string; name: string }[]> {
  const { grantTools, tools } = ctx.store.tables;
  return (await ctx.db
    .select({ id: tools.id, name: tools.name })
    .from(grantTools)
    .innerJoin(tools, eq(tools.id, grantTools.toolId))
    .where(eq(grantTools.grantId, grantId))
    .orderBy(asc(tools.name)));
}

/**
 * Per-tool consent: the tools of `serverId` among `toolIds`, or an error naming what is wrong with
 * the list (empty, unknown ids, tools of another server). Read inside the approving transaction.
 */
export async function toolsOfServer(
  ctx: AppContext,
  tx: Tx,
  serverId: string,
  toolIds: string[],
): Promise<{ ok: true; tools: { id: string; name: string }[] } | { ok: false; reason: "none" | "foreign" }> {
  const unique = [...new Set(toolIds)];
  if (unique.length === 0) return { ok: false, reason: "none" };
  const { tools } = ctx.store.tables;
  const found = (await tx
    .select({ id: tools.id, name: tools.name })
    .from(tools)
    .where(and(eq(tools.serverId, serverId), inArray(tools.id, unique)))
    .orderBy(asc(tools.name)));
  if (found.length !== unique.length) return { ok: false, reason: "foreign" };
  return { ok: true, tools: found };
}
