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
import { grants, grantTools, tools } from "~/db/schema";
import { newId } from "~/utils/crypto.server";
import type { Tx } from "./tokens.server";

export type GrantKey = { userId: string; clientId: string; serverId: string };

/** The active (not revoked) grant of a user × client × server, or null. */
export function findActiveGrant(ctx: AppContext, tx: Tx, key: GrantKey) {
  return (
    tx
      .select()
      .from(grants)
      .where(
        and(
          eq(grants.userId, key.userId),
          eq(grants.clientId, key.clientId),
          eq(grants.serverId, key.serverId),
          isNull(grants.revokedAt),
        ),
      )
      .get() ?? null
  );
}

/**
 * Creates the grant, or updates the active one: its scope and its tools become exactly `toolIds`.
 * Call inside the transaction that also issues the code. Returns the grant id and whether it is new.
 */
export function createOrUpdateGrant(
  ctx: AppContext,
  tx: Tx,
  input: GrantKey & { scope: string; toolIds: string[] },
): { grantId: string; created: boolean } {
  const now = ctx.now();
  const existing = findActiveGrant(ctx, tx, input);
  let grantId: string;
  if (existing) {
    grantId = existing.id;
    tx.update(grants).set({ scope: input.scope, updatedAt: now }).where(eq(grants.id, grantId)).run();
    tx.delete(grantTools).where(eq(grantTools.grantId, grantId)).run();
  } else {
    grantId = newId();
    tx.insert(grants)
      .values({
        id: grantId,
        userId: input.userId,
        clientId: input.clientId,
        serverId: input.serverId,
        scope: input.scope,
        createdAt: now,
        updatedAt: now,
      })
      .run();
  }
  const unique = [...new Set(input.toolIds)];
  if (unique.length > 0) tx.insert(grantTools).values(unique.map((toolId) => ({ grantId, toolId }))).run();
  return { grantId, created: !existing };
}


/** The tools a grant covers, by name. */
export function grantedTools(ctx: AppContext, grantId: string): { id: string; name: string }[] {
  return ctx.db
    .select({ id: tools.id, name: tools.name })
    .from(grantTools)
    .innerJoin(tools, eq(tools.id, grantTools.toolId))
    .where(eq(grantTools.grantId, grantId))
    .orderBy(asc(tools.name))
    .all();
}

/**
 * Per-tool consent: the tools of `serverId` among `toolIds`, or an error naming what is wrong with
 * the list (empty, unknown ids, tools of another server). Read inside the approving transaction.
 */
export function toolsOfServer(
  tx: Tx,
  serverId: string,
  toolIds: string[],
): { ok: true; tools: { id: string; name: string }[] } | { ok: false; reason: "none" | "foreign" } {
  const unique = [...new Set(toolIds)];
  if (unique.length === 0) return { ok: false, reason: "none" };
  const found = tx
    .select({ id: tools.id, name: tools.name })
    .from(tools)
    .where(and(eq(tools.serverId, serverId), inArray(tools.id, unique)))
    .orderBy(asc(tools.name))
    .all();
  if (found.length !== unique.length) return { ok: false, reason: "foreign" };
  return { ok: true, tools: found };
}
