/**
 * A server owner's choices about non-interactive access: whether plain bearer tokens are refused
 * (DPoP required, RFC 9449 §7.1) and whether enterprise-managed (ID-JAG) connections are accepted,
 * with which tools. Turning enterprise access off ends every enterprise-managed connection at once.
 */
import { and, eq, isNull } from "drizzle-orm";
import type { AppContext } from "~/context.server";
import { grants, mcpServers } from "~/db/schema";
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
export function getServerAccessSettings(ctx: AppContext, ownerId: string, serverId: string): ServerAccessSettings | null {
  const row = ctx.db
    .select({ dpopRequired: mcpServers.dpopRequired, enterpriseAccess: mcpServers.enterpriseAccess, enterpriseTools: mcpServers.enterpriseTools })
    .from(mcpServers)
    .where(and(eq(mcpServers.id, serverId), eq(mcpServers.ownerId, ownerId)))
    .get();
  return row ? { dpopRequired: row.dpopRequired, enterpriseAccess: row.enterpriseAccess, enterpriseTools: parseNames(row.enterpriseTools) } : null;
}

/** Changes some of the settings; unknown tool names throw MachineClientError. False: not the user's server. */
export function updateServerAccessSettings(
  ctx: AppContext,
  ownerId: string,
  serverId: string,
  changes: Partial<ServerAccessSettings>,
): boolean {
  const current = getServerAccessSettings(ctx, ownerId, serverId);
  if (!current) return false;
  const next = { ...current, ...changes };
  const toolNames = resolveToolNames(ctx, serverId, next.enterpriseTools).map((t) => t.name);
  ctx.db.transaction(
    (tx) => {
      tx.update(mcpServers)
        .set({ dpopRequired: next.dpopRequired, enterpriseAccess: next.enterpriseAccess, enterpriseTools: JSON.stringify(toolNames), updatedAt: ctx.now() })
        .where(eq(mcpServers.id, serverId))
        .run();
      if (current.enterpriseAccess && !next.enterpriseAccess) {
        const live = tx
          .select({ id: grants.id })
          .from(grants)
          .where(and(eq(grants.serverId, serverId), eq(grants.source, "enterprise"), isNull(grants.revokedAt)))
          .all();
        for (const g of live) revokeGrant(ctx, tx, g.id, ownerId, "enterprise_access_disabled");
      }
      recordAudit(ctx, tx, {
        kind: "server.access_settings",
        serverId,
        userId: ownerId,
        actor: ownerId,
        detail: { dpopRequired: next.dpopRequired, enterpriseAccess: next.enterpriseAccess, enterpriseTools: toolNames },
      });
    },
    { behavior: "immediate" },
  );
  return true;
}
