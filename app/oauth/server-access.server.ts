/**
 * A server owner's choices about non-interactive access: whether plain bearer tokens are refused
 * (DPoP required, RFC 9449 §7.1) and whether enterprise-managed (ID-JAG) connections are accepted,
 * with which tools. Turning enterprise access off ends every enterprise-managed connection at once.
 */
import { and, eq, isNull } from "drizzle-orm";
import type { AppContext } from "~/context.server";
import { recordAudit } from "./audit.server";
import { resolveToolNames } from "./machine-clients.server";
import { revokeGrant } from "./tokens.server";

export type ServerAccessSettings = { dpopRequired: boolean; enterpriseAccess: boolean; enterpriseTools: string[] };

function parseNames(json: string): string[] {
  try {
    const value = JSON.parse(json) as unknown;
    return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
  } catch {
    return [];
  }
}

/** The settings of a server the user owns, or null. */
export async function getServerAccessSettings(ctx: AppContext, ownerId: string, serverId: string): Promise<ServerAccessSettings | null> {
  const { mcpServers } = ctx.store.tables;
  const row = (await ctx.db
    .select({ dpopRequired: mcpServers.dpopRequired, enterpriseAccess: mcpServers.enterpriseAccess, enterpriseTools: mcpServers.enterpriseTools })
    .from(mcpServers)
    .where(and(eq(mcpServers.id, serverId), eq(mcpServers.ownerId, ownerId))).limit(1))[0];
  return row ? { dpopRequired: row.dpopRequired, enterpriseAccess: row.enterpriseAccess, enterpriseTools: parseNames(row.enterpriseTools) } : null;
}

/** Changes some of the settings; unknown tool names throw MachineClientError. False: not the user's server. */
export async function updateServerAccessSettings(
  ctx: AppContext,
  ownerId: string,
  serverId: string,
  changes: Partial<ServerAccessSettings>,
): Promise<boolean> {
  const { grants, mcpServers } = ctx.store.tables;
  const current = await getServerAccessSettings(ctx, ownerId, serverId);
  if (!current) return false;
  const next = { ...current, ...changes };
  const toolNames = (await resolveToolNames(ctx, serverId, next.enterpriseTools)).map((t) => t.name);
  await ctx.store.transaction(async (tx) => {
      await tx.update(mcpServers)
        .set({ dpopRequired: next.dpopRequired, enterpriseAccess: next.enterpriseAccess, enterpriseTools: JSON.stringify(toolNames), updatedAt: ctx.now() })
        .where(eq(mcpServers.id, serverId));
      if (current.enterpriseAccess && !next.enterpriseAccess) {
        const live = (await tx
          .select({ id: grants.id })
          .from(grants)
          .where(and(eq(grants.serverId, serverId), eq(grants.source, "enterprise"), isNull(grants.revokedAt))));
        for (const g of live) await revokeGrant(ctx, tx, g.id, ownerId, "enterprise_access_disabled");
      }
      await recordAudit(ctx, tx, {
        kind: "server.access_settings",
        serverId,
        userId: ownerId,
        actor: ownerId,
        detail: { dpopRequired: next.dpopRequired, enterpriseAccess: next.enterpriseAccess, enterpriseTools: toolNames },
      });
    });
  return true;
}
