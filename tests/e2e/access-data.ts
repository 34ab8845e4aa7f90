/**
 * Writes a connected application straight into a running app's database (app-db.ts): a server with tools, a client, a grant and one token family, exactly
 * the rows /token leaves behind. The tokens are returned in clear so the test can use them.
 */
import { createHash, randomBytes } from "node:crypto";
import { mcpInitialize } from "../helpers/mcp-request";
import { insertServerRows, withAppDb } from "../helpers/app-db";

const id = () => randomBytes(16).toString("base64url");
const hash = (s: string) => createHash("sha256").update(s).digest("hex");

export type SeededGrant = {
  serverId: string;
  clientId: string;
  grantId: string;
  accessToken: string;
  refreshToken: string;
  toolIds: Record<string, string>;
};

export function seedConnection(
  dataDir: string,
  options: {
    ownerId: string;
    serverName: string;
    clientName: string;
    tools: string[];
    granted: string[];
    /** Add the grant to this existing server (its tools by name in `toolIds`) instead of a new one. */
    server?: { id: string; toolIds: Record<string, string> };
    redirectUri?: string;
    /** Milliseconds before now of the grant's creation and last use. */
    ageMs?: number;
  },
): Promise<SeededGrant> {
  const now = Date.now() - (options.ageMs ?? 0);
  const serverId = options.server?.id ?? id();
  const clientId = id();
  const grantId = id();
  const familyId = id();
  const accessToken = `tga_${randomBytes(32).toString("base64url")}`;
  const refreshToken = `tgr_${randomBytes(32).toString("base64url")}`;
  const toolIds: Record<string, string> = { ...options.server?.toolIds };
  return withAppDb(dataDir, async (db) => {
    if (!options.server) {
      const rows = options.tools.map((name) => ({ name, description: `The ${name} tool`, endpointUrl: "http://127.0.0.1:9/unused" }));
      Object.assign(toolIds, await insertServerRows(db, { id: serverId, ownerId: options.ownerId, name: options.serverName, at: now }, rows));
    }
    const redirectUris = JSON.stringify([options.redirectUri ?? "http://127.0.0.1:33418/callback"]);
    await db.run(
      "insert into oauth_clients (id, kind, client_name, redirect_uris, metadata, created_at) values (?, 'registered', ?, ?, ?, ?)",
      clientId,
      options.clientName,
      redirectUris,
      JSON.stringify({ client_name: options.clientName }),
      now,
    );
    await db.run(
      "insert into grants (id, user_id, client_id, server_id, scope, created_at, updated_at, last_used_at) values (?, ?, ?, ?, 'mcp:tools', ?, ?, ?)",
      grantId,
      options.ownerId,
      clientId,
      serverId,
      now,
      now,
      options.ageMs ? now : null,
    );
    for (const name of options.granted) await db.run("insert into grant_tools (grant_id, tool_id) values (?, ?)", grantId, toolIds[name]);
    await db.run("insert into token_families (id, grant_id, created_at) values (?, ?, ?)", familyId, grantId, now);
    await db.run(
      "insert into access_tokens (token_hash, family_id, grant_id, client_id, user_id, server_id, scope, created_at, expires_at) values (?, ?, ?, ?, ?, ?, 'mcp:tools', ?, ?)",
      hash(accessToken),
      familyId,
      grantId,
      clientId,
      options.ownerId,
      serverId,
      now,
      now + 3600_000,
    );
    await db.run(
      "insert into refresh_tokens (token_hash, family_id, grant_id, client_id, created_at, expires_at) values (?, ?, ?, ?, ?, ?)",
      hash(refreshToken),
      familyId,
      grantId,
      clientId,
      now,
      now + 86400_000,
    );
    return { serverId, clientId, grantId, accessToken, refreshToken, toolIds };
  });
}

/** revoked_at of the grant and its tokens, read back from the database. */
export function revocationState(dataDir: string, grant: SeededGrant) {
  return withAppDb(dataDir, async (db) => {
    const g = (await db.get<{ revoked_at: number | null; revoked_by: string | null }>("select revoked_at, revoked_by from grants where id = ?", grant.grantId))!;
    const a = (await db.get<{ revoked_at: number | null }>("select revoked_at from access_tokens where token_hash = ?", hash(grant.accessToken)))!;
    const r = (await db.get<{ revoked_at: number | null }>("select revoked_at from refresh_tokens where token_hash = ?", hash(grant.refreshToken)))!;
    const events = await db.all<{ kind: string; actor: string }>("select kind, actor from audit_events where grant_id = ?", grant.grantId);
    return { grant: g, access: a.revoked_at, refresh: r.revoked_at, events };
  });
}

/** An MCP initialize request with a bearer token; returns the HTTP status. */
export async function mcpStatus(appUrl: string, serverId: string, accessToken: string): Promise<number> {
  const res = await mcpInitialize(`${appUrl}/mcp/${serverId}`, accessToken);
  await res.body?.cancel();
  return res.status;
}
