/**
 * Writes a connected application straight into a running app's SQLite file (WAL mode, so the app
 * sees it on its next read): a server with tools, a client, a grant and one token family, exactly
 * the rows /token leaves behind. The tokens are returned in clear so the test can use them.
 */
import { createHash, randomBytes } from "node:crypto";
import path from "node:path";
import Database from "better-sqlite3";
import { mcpInitialize } from "../helpers/mcp-request";

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

export function openAppDb(dataDir: string) {
  const db = new Database(path.join(dataDir, "toolgate.db"));
  db.pragma("busy_timeout = 5000");
  return db;
}

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
): SeededGrant {
  const db = openAppDb(dataDir);
  try {
    const now = Date.now() - (options.ageMs ?? 0);
    const serverId = options.server?.id ?? id();
    const clientId = id();
    const grantId = id();
    const familyId = id();
    const accessToken = `tga_${randomBytes(32).toString("base64url")}`;
    const refreshToken = `tgr_${randomBytes(32).toString("base64url")}`;
    const toolIds: Record<string, string> = { ...options.server?.toolIds };
    db.transaction(() => {
      if (!options.server) {
        db.prepare(
          "insert into mcp_servers (id, owner_id, name, description, signing_secret_enc, created_at, updated_at) values (?, ?, ?, '', 'unused', ?, ?)",
        ).run(serverId, options.ownerId, options.serverName, now, now);
      }
      for (const name of options.server ? [] : options.tools) {
        toolIds[name] = id();
        db.prepare(
          "insert into tools (id, server_id, name, description, input_schema, endpoint_url, created_at, updated_at) values (?, ?, ?, ?, '{\"type\":\"object\"}', 'http://127.0.0.1:9/unused', ?, ?)",
        ).run(toolIds[name], serverId, name, `The ${name} tool`, now, now);
      }
      const redirectUris = JSON.stringify([options.redirectUri ?? "http://127.0.0.1:33418/callback"]);
      db.prepare(
        "insert into oauth_clients (id, kind, client_name, redirect_uris, metadata, created_at) values (?, 'registered', ?, ?, ?, ?)",
      ).run(clientId, options.clientName, redirectUris, JSON.stringify({ client_name: options.clientName }), now);
      db.prepare(
        "insert into grants (id, user_id, client_id, server_id, scope, created_at, updated_at, last_used_at) values (?, ?, ?, ?, 'mcp:tools', ?, ?, ?)",
      ).run(grantId, options.ownerId, clientId, serverId, now, now, options.ageMs ? now : null);
      for (const name of options.granted) db.prepare("insert into grant_tools (grant_id, tool_id) values (?, ?)").run(grantId, toolIds[name]);
      db.prepare("insert into token_families (id, grant_id, created_at) values (?, ?, ?)").run(familyId, grantId, now);
      db.prepare(
        "insert into access_tokens (token_hash, family_id, grant_id, client_id, user_id, server_id, scope, created_at, expires_at) values (?, ?, ?, ?, ?, ?, 'mcp:tools', ?, ?)",
      ).run(hash(accessToken), familyId, grantId, clientId, options.ownerId, serverId, now, now + 3600_000);
      db.prepare(
        "insert into refresh_tokens (token_hash, family_id, grant_id, client_id, created_at, expires_at) values (?, ?, ?, ?, ?, ?)",
      ).run(hash(refreshToken), familyId, grantId, clientId, now, now + 86400_000);
    })();
    return { serverId, clientId, grantId, accessToken, refreshToken, toolIds };
  } finally {
    db.close();
  }
}

/** revoked_at of the grant and its tokens, read back from the database. */
export function revocationState(dataDir: string, grant: SeededGrant) {
  const db = openAppDb(dataDir);
  try {
    const g = db.prepare("select revoked_at, revoked_by from grants where id = ?").get(grant.grantId) as { revoked_at: number | null; revoked_by: string | null };
    const a = db.prepare("select revoked_at from access_tokens where token_hash = ?").get(hash(grant.accessToken)) as { revoked_at: number | null };
    const r = db.prepare("select revoked_at from refresh_tokens where token_hash = ?").get(hash(grant.refreshToken)) as { revoked_at: number | null };
    const events = db.prepare("select kind, actor from audit_events where grant_id = ?").all(grant.grantId) as { kind: string; actor: string }[];
    return { grant: g, access: a.revoked_at, refresh: r.revoked_at, events };
  } finally {
    db.close();
  }
}

/** An MCP initialize request with a bearer token; returns the HTTP status. */
export async function mcpStatus(appUrl: string, serverId: string, accessToken: string): Promise<number> {
  const res = await mcpInitialize(`${appUrl}/mcp/${serverId}`, accessToken);
  await res.body?.cancel();
  return res.status;
}
