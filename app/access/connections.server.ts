/**
 * Connected applications: the active grants on a user's MCP servers, and revoking one of them.
 * A grant is "connected" while it is not revoked; revoking ends the grant and every token issued
 * under it in one transaction (tokens.server.ts revokeGrant), so the next MCP request answers 401
 * and the next refresh `invalid_grant`.
 */
import { and, asc, desc, eq, inArray, isNull } from "drizzle-orm";
import type { AppContext } from "~/context.server";
import { displayText } from "~/utils/display-text";
import { grants, grantTools, mcpServers, oauthClients, tools } from "~/db/schema";
import { recordAudit } from "~/oauth/audit.server";
import { revokeGrant } from "~/oauth/tokens.server";

export type ClientIdentification = "metadata_document" | "registered";

export type Connection = {
  grantId: string;
  serverId: string;
  serverName: string;
  clientId: string;
  applicationName: string;
  /** Hosts the client's registered redirect URIs point to (what the browser is sent back to). */
  redirectHosts: string[];
  /** "metadata_document": client_id is an https URL whose document we fetched; "registered": self-registered, unverified. */
  identifiedBy: ClientIdentification;
  /** For metadata-document clients, the host of the client_id URL (the only verified fact about it). */
  clientIdHost: string | null;
  firstAuthorizedAt: number;
  lastUsedAt: number | null;
  tools: { id: string; name: string }[];
};

/** The server if `userId` owns it, else null (the caller answers 404: never reveal other users' ids). */
export function findOwnedServer(ctx: AppContext, userId: string, serverId: string) {
  return (
    ctx.db
      .select({ id: mcpServers.id, name: mcpServers.name })
      .from(mcpServers)
      .where(and(eq(mcpServers.id, serverId), eq(mcpServers.ownerId, userId)))
      .get() ?? null
  );
}

/** Hosts of a JSON array of redirect URIs, deduplicated, in order; unparsable entries are skipped. */
export function redirectHostsOf(redirectUrisJson: string): string[] {
  let uris: unknown;
  try {
    uris = JSON.parse(redirectUrisJson);
  } catch {
    return [];
  }
  if (!Array.isArray(uris)) return [];
  const hosts: string[] = [];
  for (const uri of uris) {
    if (typeof uri !== "string") continue;
    try {
      const url = new URL(uri);
      // Native apps use private-use schemes (com.example.app:/cb) that have no host.
      const host = url.host || `${url.protocol}`;
      if (!hosts.includes(host)) hosts.push(host);
    } catch {
      // ignore
    }
  }
  return hosts;
}

function hostOf(value: string): string | null {
  try {
    return new URL(value).host || null;
  } catch {
    return null;
  }
}

/**
 * Every active grant on servers owned by `userId` (on one server when `serverId` is given), newest
 * first. One grant per user × client × server (decision 019): two devices using the same client id
 * share it (each with its own token family), so revoking it ends both.
 */
export function listConnections(ctx: AppContext, userId: string, options: { serverId?: string } = {}): Connection[] {
  const conditions = [eq(mcpServers.ownerId, userId), isNull(grants.revokedAt)];
  if (options.serverId) conditions.push(eq(grants.serverId, options.serverId));
  const rows = ctx.db
    .select({
      grantId: grants.id,
      serverId: grants.serverId,
      serverName: mcpServers.name,
      clientId: grants.clientId,
      clientName: oauthClients.clientName,
      kind: oauthClients.kind,
      redirectUris: oauthClients.redirectUris,
      createdAt: grants.createdAt,
      lastUsedAt: grants.lastUsedAt,
    })
    .from(grants)
    .innerJoin(mcpServers, eq(mcpServers.id, grants.serverId))
    .innerJoin(oauthClients, eq(oauthClients.id, grants.clientId))
    .where(and(...conditions))
    .orderBy(asc(mcpServers.name), desc(grants.createdAt), asc(grants.id))
    .all();
  const toolsByGrant = new Map<string, { id: string; name: string }[]>();
  if (rows.length > 0) {
    const toolRows = ctx.db
      .select({ grantId: grantTools.grantId, id: tools.id, name: tools.name })
      .from(grantTools)
      .innerJoin(tools, eq(tools.id, grantTools.toolId))
      .where(inArray(grantTools.grantId, rows.map((r) => r.grantId)))
      .orderBy(asc(tools.name))
      .all();
    for (const t of toolRows) {
      const list = toolsByGrant.get(t.grantId) ?? [];
      list.push({ id: t.id, name: t.name });
      toolsByGrant.set(t.grantId, list);
    }
  }
  return rows.map((r) => ({
    grantId: r.grantId,
    serverId: r.serverId,
    serverName: r.serverName,
    clientId: r.clientId,
    // Names from clients, cleaned of characters the pages would not show (decision 031).
    applicationName: displayText(r.clientName),
    redirectHosts: redirectHostsOf(r.redirectUris).map(displayText),
    identifiedBy: r.kind,
    clientIdHost: r.kind === "metadata_document" ? hostOf(r.clientId) : null,
    firstAuthorizedAt: r.createdAt,
    lastUsedAt: r.lastUsedAt,
    tools: toolsByGrant.get(r.grantId) ?? [],
  }));
}

export type RevokeResult = { revoked: true; applicationName: string } | { revoked: false };

/**
 * Revokes one grant on a server the user owns: the grant, every token family under it, every
 * access and refresh token, and an audit event, in one transaction. Returns `{revoked: false}` when
 * the grant does not exist, is already revoked, or is on someone else's server (the route answers
 * 404 and nothing changes). `serverId`, when given, must also match (per-server page).
 */
export function revokeConnection(
  ctx: AppContext,
  userId: string,
  grantId: string,
  options: { serverId?: string } = {},
): RevokeResult {
  return ctx.db.transaction((tx) => {
    const row = tx
      .select({ id: grants.id, serverId: grants.serverId, clientId: grants.clientId, clientName: oauthClients.clientName })
      .from(grants)
      .innerJoin(mcpServers, eq(mcpServers.id, grants.serverId))
      .innerJoin(oauthClients, eq(oauthClients.id, grants.clientId))
      .where(and(eq(grants.id, grantId), eq(mcpServers.ownerId, userId), isNull(grants.revokedAt)))
      .get();
    if (!row || (options.serverId !== undefined && row.serverId !== options.serverId)) return { revoked: false };
    revokeGrant(ctx, tx, row.id, userId);
    recordAudit(ctx, tx, {
      kind: "grant.revoked",
      serverId: row.serverId,
      userId,
      clientId: row.clientId,
      grantId: row.id,
      actor: userId,
      detail: { applicationName: row.clientName },
    });
    return { revoked: true, applicationName: row.clientName };
  }, { behavior: "immediate" });
}
