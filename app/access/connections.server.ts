/**
 * Connected applications: the active grants on a user's MCP servers, and revoking one of them.
 * A grant is "connected" while it is not revoked; revoking ends the grant and every token issued
 * under it in one transaction (tokens.server.ts revokeGrant), so the next MCP request answers 401
 * and the next refresh `invalid_grant`.
 */
import { createHash } from "node:crypto";
import { and, asc, count, desc, eq, inArray, isNull } from "drizzle-orm";
import type { AppContext } from "~/context.server";
import { displayText } from "~/utils/display-text";
import { recordAudit } from "~/oauth/audit.server";
import { revokeGrant } from "~/oauth/tokens.server";

export type ClientIdentification = "metadata_document" | "registered" | "machine";

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
  /** Token families not revoked: one per installation that exchanged a code (a device). */
  devices: number;
  /** Set when the client published a logo that Toolgate fetched and serves itself. */
  logoDigest: string | null;
  /** "consent": approved on the consent screen; "machine": a machine client; "enterprise": an ID-JAG grant. */
  source: "consent" | "machine" | "enterprise";
};

/** The server if `userId` owns it, else null (the caller answers 404: never reveal other users' ids). */
export async function findOwnedServer(ctx: AppContext, userId: string, serverId: string) {
  const { mcpServers } = ctx.store.tables;
  return (
    (await ctx.db
      .select({ id: mcpServers.id, name: mcpServers.name })
      .from(mcpServers)
      .where(and(eq(mcpServers.id, serverId), eq(mcpServers.ownerId, userId))).limit(1))[0] ?? null
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
export async function listConnections(ctx: AppContext, userId: string, options: { serverId?: string } = {}): Promise<Connection[]> {
  const { grants, grantTools, mcpServers, oauthClients, tokenFamilies, tools } = ctx.store.tables;
  const conditions = [eq(mcpServers.ownerId, userId), isNull(grants.revokedAt)];
  if (options.serverId) conditions.push(eq(grants.serverId, options.serverId));
  const rows = (await ctx.db
    .select({
      grantId: grants.id,
      serverId: grants.serverId,
      serverName: mcpServers.name,
      clientId: grants.clientId,
      clientName: oauthClients.clientName,
      kind: oauthClients.kind,
      redirectUris: oauthClients.redirectUris,
      logoDigest: oauthClients.logoDigest,
      createdAt: grants.createdAt,
      lastUsedAt: grants.lastUsedAt,
      source: grants.source,
    })
    .from(grants)
    .innerJoin(mcpServers, eq(mcpServers.id, grants.serverId))
    .innerJoin(oauthClients, eq(oauthClients.id, grants.clientId))
    .where(and(...conditions))
    .orderBy(asc(mcpServers.name), desc(grants.createdAt), asc(grants.id)));
  const toolsByGrant = new Map<string, { id: string; name: string }[]>();
  const devicesByGrant = new Map<string, number>();
  if (rows.length > 0) {
    const familyRows = (await ctx.db
      .select({ grantId: tokenFamilies.grantId, n: count() })
      .from(tokenFamilies)
      .where(and(inArray(tokenFamilies.grantId, rows.map((r) => r.grantId)), isNull(tokenFamilies.revokedAt)))
      .groupBy(tokenFamilies.grantId));
    for (const f of familyRows) devicesByGrant.set(f.grantId, f.n);
    const toolRows = (await ctx.db
      .select({ grantId: grantTools.grantId, id: tools.id, name: tools.name })
      .from(grantTools)
      .innerJoin(tools, eq(tools.id, grantTools.toolId))
      .where(inArray(grantTools.grantId, rows.map((r) => r.grantId)))
      .orderBy(asc(tools.name)));
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
    devices: devicesByGrant.get(r.grantId) ?? 0,
    logoDigest: r.kind === "metadata_document" ? r.logoDigest : null,
    source: r.source,
  }));
}

/**
 * One application as a person recognises it: a metadata-document client is its client id (the
 * verified fact); a self-registered client only has the name it gave and where it redirects, so
 * registrations that agree on both (the same program registering again on each run or device) are
 * one application. Two different programs claiming one name but redirecting elsewhere stay apart.
 */
export function applicationIdentity(c: Pick<Connection, "identifiedBy" | "clientId" | "applicationName" | "redirectHosts">): string {
  const identity =
    c.identifiedBy === "metadata_document"
      ? `doc\n${c.clientId}`
      : // A machine client is its own application: never folded with a self-registered namesake.
        c.identifiedBy === "machine"
        ? `machine\n${c.clientId}`
        : `reg\n${c.applicationName}\n${[...c.redirectHosts].sort().join(" ")}`;
  return createHash("sha256").update(identity).digest("base64url").slice(0, 22);
}

export type ApplicationGroup = {
  /** applicationIdentity(): stable, safe in a URL. */
  key: string;
  applicationName: string;
  identifiedBy: ClientIdentification;
  clientIdHost: string | null;
  logoDigest: string | null;
  /** Distinct client registrations in the group (1 for a metadata-document client). */
  registrations: number;
  /** Live token families over all entries. */
  devices: number;
  firstAuthorizedAt: number;
  lastUsedAt: number | null;
  /** Names of the servers the group's grants reach, sorted. */
  serverNames: string[];
  /** Newest use first. */
  entries: Connection[];
};

const byLastUse = (a: Connection, b: Connection) =>
  (b.lastUsedAt ?? 0) - (a.lastUsedAt ?? 0) || b.firstAuthorizedAt - a.firstAuthorizedAt || a.grantId.localeCompare(b.grantId);

/** Connections folded into applications; `search` keeps those whose name contains it (case-insensitive). */
export function groupConnections(connections: Connection[], search = ""): ApplicationGroup[] {
  const needle = search.trim().toLocaleLowerCase();
  const groups = new Map<string, Connection[]>();
  for (const c of connections) {
    if (needle && !c.applicationName.toLocaleLowerCase().includes(needle)) continue;
    const key = applicationIdentity(c);
    const list = groups.get(key) ?? [];
    list.push(c);
    groups.set(key, list);
  }
  return [...groups.entries()]
    .map(([key, list]): ApplicationGroup => {
      const entries = [...list].sort(byLastUse);
      const first = entries[0]!;
      const used = entries.map((e) => e.lastUsedAt).filter((t): t is number => t !== null);
      return {
        key,
        applicationName: first.applicationName,
        identifiedBy: first.identifiedBy,
        clientIdHost: first.clientIdHost,
        logoDigest: entries.find((e) => e.logoDigest)?.logoDigest ?? null,
        registrations: new Set(entries.map((e) => e.clientId)).size,
        devices: entries.reduce((n, e) => n + e.devices, 0),
        firstAuthorizedAt: Math.min(...entries.map((e) => e.firstAuthorizedAt)),
        lastUsedAt: used.length > 0 ? Math.max(...used) : null,
        serverNames: [...new Set(entries.map((e) => e.serverName))].sort((a, b) => a.localeCompare(b)),
        entries,
      };
    })
    .sort(
      (a, b) =>
        a.applicationName.localeCompare(b.applicationName) || (b.lastUsedAt ?? 0) - (a.lastUsedAt ?? 0) || a.key.localeCompare(b.key),
    );
}

/** "Weather", "Weather and Calendar", "Weather, Calendar and Mail". */
export function joinNames(names: string[]): string {
  if (names.length <= 1) return names[0] ?? "";
  return `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}

/** What revoking `entries` does, in the words the confirmation shows. */
export function revokeConsequence(applicationName: string, entries: Pick<Connection, "serverName">[]): string {
  const servers = joinNames([...new Set(entries.map((e) => e.serverName))].sort((a, b) => a.localeCompare(b)));
  const which = entries.length > 1 ? ` (all ${entries.length} of its authorizations)` : "";
  return `${applicationName} will lose access to ${servers}${which}; its tokens stop working at once and it has to ask you again.`;
}

export type RevokeTarget = { grantId: string } | { applicationKey: string };

/**
 * The active connections a revoke form names, within the user's servers (and `serverId`, on a
 * server's own page): one grant, or every grant of one application. Empty when nothing matches.
 */
export async function findRevokeTargets(
  ctx: AppContext,
  userId: string,
  target: RevokeTarget,
  options: { serverId?: string } = {},
): Promise<Connection[]> {
  const all = await listConnections(ctx, userId, options);
  return "grantId" in target ? all.filter((c) => c.grantId === target.grantId) : all.filter((c) => applicationIdentity(c) === target.applicationKey);
}

export type RevokeResult = { revoked: true; applicationName: string; count: number } | { revoked: false };

/**
 * Revokes grants on servers the user owns: each grant, every token family under it, every access and
 * refresh token, and an audit event per grant, all in one transaction. Grants that do not exist, are
 * already revoked, or are on someone else's server (or not on `serverId`, for the per-server page)
 * are skipped; `{revoked: false}` when none was left (the route answers 404 and nothing changes).
 */
export async function revokeConnections(
  ctx: AppContext,
  userId: string,
  grantIds: string[],
  options: { serverId?: string } = {},
): Promise<RevokeResult> {
  const { grants, mcpServers, oauthClients } = ctx.store.tables;
  if (grantIds.length === 0) return { revoked: false };
  return ctx.store.transaction(async (tx) => {
    const rows = (await tx
      .select({ id: grants.id, serverId: grants.serverId, clientId: grants.clientId, clientName: oauthClients.clientName })
      .from(grants)
      .innerJoin(mcpServers, eq(mcpServers.id, grants.serverId))
      .innerJoin(oauthClients, eq(oauthClients.id, grants.clientId))
      .where(and(inArray(grants.id, grantIds), eq(mcpServers.ownerId, userId), isNull(grants.revokedAt))))
      .filter((row) => options.serverId === undefined || row.serverId === options.serverId);
    if (rows.length === 0) return { revoked: false };
    for (const row of rows) {
      await revokeGrant(ctx, tx, row.id, userId);
      await recordAudit(ctx, tx, {
        kind: "grant.revoked",
        serverId: row.serverId,
        userId,
        clientId: row.clientId,
        grantId: row.id,
        actor: userId,
        detail: { applicationName: row.clientName },
      });
    }
    return { revoked: true, applicationName: rows[0]!.clientName, count: rows.length };
  });
}

/** Revokes one grant (see revokeConnections). */
export function revokeConnection(ctx: AppContext, userId: string, grantId: string, options: { serverId?: string } = {}): Promise<RevokeResult> {
  return revokeConnections(ctx, userId, [grantId], options);
}

/** Where a client's logo is served from (Toolgate's own origin; app/routes/client-logos.$digest.tsx). */
export const logoPath = (digest: string) => `/client-logos/${digest}`;

/** The Connected applications page's data: groups with the sentences their confirmations show. */
export async function connectionGroupsView(ctx: AppContext, userId: string, options: { serverId?: string; search?: string } = {}) {
  return groupConnections(await listConnections(ctx, userId, { serverId: options.serverId }), options.search).map((g) => ({
    key: g.key,
    applicationName: g.applicationName,
    identifiedBy: g.identifiedBy,
    clientIdHost: g.clientIdHost,
    logoUrl: g.logoDigest ? logoPath(g.logoDigest) : null,
    registrations: g.registrations,
    devices: g.devices,
    lastUsedAt: g.lastUsedAt,
    serverNames: g.serverNames,
    consequence: revokeConsequence(g.applicationName, g.entries),
    entries: g.entries.map((e) => ({
      grantId: e.grantId,
      serverId: e.serverId,
      serverName: e.serverName,
      redirectHosts: e.redirectHosts,
      firstAuthorizedAt: e.firstAuthorizedAt,
      lastUsedAt: e.lastUsedAt,
      devices: e.devices,
      tools: e.tools,
      source: e.source,
      consequence: revokeConsequence(g.applicationName, [e]),
    })),
  }));
}
