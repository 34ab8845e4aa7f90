// Seeds a fresh Toolgate data folder directly through its SQLite file: the app's own migrations
// (drizzle/) create the schema, then one transaction of prepared INSERTs fills it. Secrets are
// stored exactly as the app stores them: bearer secrets as SHA-256 hex (app/oauth/tokens.server.ts,
// app/utils/crypto.server.ts), server signing secrets and tool headers AES-256-GCM sealed with the
// data key in secrets.json, browser sessions as sha256(sid) rows plus a signed Remix cookie.
import { createCipheriv, createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { drizzle } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import { createCookieSessionStorage } from "@remix-run/node";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const DATABASE_FILE = "toolgate.db";

// Same prefixes as app/oauth/tokens.server.ts.
const ACCESS_TOKEN_PREFIX = "tga_";
const REFRESH_TOKEN_PREFIX = "tgr_";

const sha256Hex = (value) => createHash("sha256").update(value).digest("hex");
const newId = () => randomBytes(16).toString("base64url");
const randomToken = (bytes = 32) => randomBytes(bytes).toString("base64url");

/** AES-256-GCM sealing in the app's format (`v1.<iv>.<tag>.<ciphertext>`, base64url). */
export function encryptText(key, plaintext) {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return `v1.${iv.toString("base64url")}.${cipher.getAuthTag().toString("base64url")}.${body.toString("base64url")}`;
}

/** Random tokens in bulk: one randomBytes call per 4096 tokens instead of one per token. */
function tokenSource(prefix) {
  let pool = Buffer.alloc(0);
  let offset = 0;
  return () => {
    if (offset + 32 > pool.length) {
      pool = randomBytes(32 * 4096);
      offset = 0;
    }
    const t = prefix + pool.toString("base64url", offset, offset + 32);
    offset += 32;
    return t;
  };
}

/** Writes secrets.json the way app/context.server.ts would have generated it. */
export function writeSecrets(dataDir) {
  fs.mkdirSync(dataDir, { recursive: true });
  const secrets = { sessionSecret: randomToken(32), dataKey: randomToken(32) };
  fs.writeFileSync(path.join(dataDir, "secrets.json"), JSON.stringify(secrets, null, 2) + "\n", { mode: 0o600 });
  return { sessionSecret: secrets.sessionSecret, dataKey: Buffer.from(secrets.dataKey, "base64url") };
}

/**
 * Seeds the data folder. Options:
 *   scale           filler token families; each has one access and one refresh token
 *   accessPool      known access tokens (secrets kept) for the MCP scenarios
 *   refreshPool     known refresh tokens, one fresh family each, for the refresh-grant scenario
 *   authRequests    pending authorization requests for the consent-page scenario
 *   publicUrl       the app's PUBLIC_URL (resources and MCP URLs are built from it)
 *   toolEndpointUrl where every seeded tool sends its calls
 */
export async function seed(dataDir, options) {
  const {
    scale,
    accessPool = 1000,
    refreshPool = 20_000,
    authRequests = 1000,
    publicUrl,
    toolEndpointUrl,
    sessionTtlSeconds = 14 * 24 * 3600,
  } = options;
  const started = performance.now();
  const secrets = writeSecrets(dataDir);
  const file = path.join(dataDir, DATABASE_FILE);
  const sqlite = new Database(file);
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("foreign_keys = ON");
  migrate(drizzle(sqlite), { migrationsFolder: path.join(ROOT, "drizzle") });
  // Bulk-load settings for this connection only; the app reopens with its own pragmas.
  sqlite.pragma("journal_mode = OFF");
  sqlite.pragma("synchronous = OFF");
  sqlite.pragma("cache_size = -1048576"); // 1 GiB while loading
  sqlite.pragma("foreign_keys = OFF"); // rows are inserted parent-first; checked below with foreign_key_check

  const now = Date.now();
  const DAY = 24 * 3600 * 1000;
  const ins = (sql) => sqlite.prepare(sql);
  const insUser = ins(
    "insert into users (id, email, name, password_hash, role, created_at, updated_at) values (?, ?, ?, null, ?, ?, ?)",
  );
  const insServer = ins(
    "insert into mcp_servers (id, owner_id, name, description, signing_secret_enc, created_at, updated_at) values (?, ?, ?, ?, ?, ?, ?)",
  );
  const insTool = ins(
    "insert into tools (id, server_id, name, description, input_schema, endpoint_url, endpoint_method, endpoint_headers_enc, created_at, updated_at) values (?, ?, ?, ?, ?, ?, 'POST', ?, ?, ?)",
  );
  const insClient = ins(
    "insert into oauth_clients (id, kind, secret_hash, token_endpoint_auth_method, client_name, client_uri, logo_uri, redirect_uris, metadata, created_at, last_used_at, expires_at) values (?, 'registered', null, 'none', ?, null, null, ?, ?, ?, null, null)",
  );
  const insGrant = ins(
    "insert into grants (id, user_id, client_id, server_id, scope, created_at, updated_at, last_used_at, revoked_at, revoked_by) values (?, ?, ?, ?, 'mcp:tools', ?, ?, null, null, null)",
  );
  const insGrantTool = ins("insert into grant_tools (grant_id, tool_id) values (?, ?)");
  const insFamily = ins(
    "insert into token_families (id, grant_id, created_at, revoked_at, revoked_reason) values (?, ?, ?, null, null)",
  );
  const insAccess = ins(
    "insert into access_tokens (token_hash, family_id, grant_id, client_id, user_id, server_id, scope, created_at, expires_at, revoked_at) values (?, ?, ?, ?, ?, ?, 'mcp:tools', ?, ?, null)",
  );
  const insRefresh = ins(
    "insert into refresh_tokens (token_hash, family_id, grant_id, client_id, created_at, expires_at, rotated_at, replaced_by, revoked_at) values (?, ?, ?, ?, ?, ?, null, null, null)",
  );
  const insAuthRequest = ins(
    "insert into authorization_requests (id, client_id, redirect_uri, redirect_uri_provided, state, code_challenge, scope, resource, server_id, created_at, expires_at, completed_at) values (?, ?, ?, 1, ?, ?, 'mcp:tools', ?, ?, ?, ?, null)",
  );
  const insSession = ins("insert into sessions (id, user_id, created_at, expires_at) values (?, ?, ?, ?)");

  const USERS = 10;
  const SERVERS = 10;
  const TOOLS_PER_SERVER = 10;
  const CLIENTS = 100;
  const GRANTS_PER_SERVER = 10;
  const fixture = {
    publicUrl,
    users: [],
    servers: [],
    clients: [],
    grants: [],
    accessTokens: [],
    refreshTokens: [],
    authRequestIds: [],
    sessionCookie: "",
    counts: {},
  };
  const nextAccess = tokenSource(ACCESS_TOKEN_PREFIX);
  const nextRefresh = tokenSource(REFRESH_TOKEN_PREFIX);
  const inputSchema = JSON.stringify({
    type: "object",
    properties: { query: { type: "string", description: "What to look up" } },
    required: ["query"],
  });
  const sid = randomToken(24);

  sqlite.transaction(() => {
    for (let u = 0; u < USERS; u++) {
      const id = newId();
      insUser.run(id, `bench-user-${u}@example.test`, `Bench User ${u}`, u === 0 ? "owner" : "member", now, now);
      fixture.users.push({ id, email: `bench-user-${u}@example.test` });
    }
    for (let s = 0; s < SERVERS; s++) {
      const id = newId();
      const owner = fixture.users[s % USERS];
      insServer.run(id, owner.id, `Bench server ${s}`, "A seeded server", encryptText(secrets.dataKey, `tgs_${randomToken(32)}`), now, now);
      const tools = [];
      for (let t = 0; t < TOOLS_PER_SERVER; t++) {
        const toolId = newId();
        insTool.run(
          toolId,
          id,
          `tool_${t}`,
          `Seeded tool ${t} of server ${s}`,
          inputSchema,
          toolEndpointUrl,
          encryptText(secrets.dataKey, "{}"),
          now,
          now,
        );
        tools.push({ id: toolId, name: `tool_${t}` });
      }
      fixture.servers.push({ id, ownerId: owner.id, tools, mcpUrl: `${publicUrl}/mcp/${id}` });
    }
    for (let c = 0; c < CLIENTS; c++) {
      const id = newId();
      const redirectUri = `http://127.0.0.1:${40000 + c}/callback`;
      // The shape registerClient (app/oauth/clients.server.ts) stores.
      const metadata = {
        redirect_uris: [redirectUri],
        token_endpoint_auth_method: "none",
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        scope: "mcp:tools",
        client_name: `Bench client ${c}`,
      };
      insClient.run(id, `Bench client ${c}`, JSON.stringify([redirectUri]), JSON.stringify(metadata), now);
      fixture.clients.push({ id, redirectUri });
    }
    for (let s = 0; s < SERVERS; s++) {
      const server = fixture.servers[s];
      for (let g = 0; g < GRANTS_PER_SERVER; g++) {
        const id = newId();
        const client = fixture.clients[(s * GRANTS_PER_SERVER + g) % CLIENTS];
        insGrant.run(id, server.ownerId, client.id, server.id, now, now);
        for (const tool of server.tools) insGrantTool.run(id, tool.id);
        fixture.grants.push({ id, userId: server.ownerId, clientId: client.id, serverId: server.id, server });
      }
    }
    // Token families: `scale` filler families with one live access and one live refresh token each;
    // the first `accessPool` keep their access-token secrets for the MCP scenarios.
    const grants = fixture.grants;
    for (let i = 0; i < scale; i++) {
      const grant = grants[i % grants.length];
      const familyId = newId();
      insFamily.run(familyId, grant.id, now);
      const access = nextAccess();
      insAccess.run(sha256Hex(access), familyId, grant.id, grant.clientId, grant.userId, grant.serverId, now, now + DAY);
      insRefresh.run(sha256Hex(nextRefresh()), familyId, grant.id, grant.clientId, now, now + 30 * DAY);
      if (i < accessPool) fixture.accessTokens.push({ token: access, serverId: grant.serverId });
    }
    // Known refresh tokens, one family each so rotating one never touches another.
    for (let i = 0; i < refreshPool; i++) {
      const grant = grants[i % grants.length];
      const familyId = newId();
      insFamily.run(familyId, grant.id, now);
      const refresh = nextRefresh();
      insRefresh.run(sha256Hex(refresh), familyId, grant.id, grant.clientId, now, now + 30 * DAY);
      fixture.refreshTokens.push({ token: refresh, clientId: grant.clientId, serverId: grant.serverId });
    }
    // Pending authorization requests for server 0 (owned by user 0, who is signed in below).
    const server0 = fixture.servers[0];
    for (let i = 0; i < authRequests; i++) {
      const client = fixture.clients[i % CLIENTS];
      const id = newId();
      const challenge = createHash("sha256").update(randomToken(32)).digest("base64url");
      insAuthRequest.run(id, client.id, client.redirectUri, randomToken(8), challenge, server0.mcpUrl, server0.id, now, now + DAY);
      fixture.authRequestIds.push(id);
    }
    insSession.run(sha256Hex(sid), fixture.users[0].id, now, now + sessionTtlSeconds * 1000);
  })();

  const fkProblems = sqlite.pragma("foreign_key_check");
  if (fkProblems.length) throw new Error(`seed broke foreign keys: ${JSON.stringify(fkProblems.slice(0, 3))}`);
  sqlite.pragma("journal_mode = WAL");
  for (const table of ["users", "mcp_servers", "tools", "oauth_clients", "grants", "grant_tools", "token_families", "access_tokens", "refresh_tokens", "authorization_requests", "sessions"]) {
    fixture.counts[table] = sqlite.prepare(`select count(*) as n from ${table}`).get().n;
  }
  sqlite.close();

  // The browser cookie for user 0, signed exactly like app/auth/session.server.ts signs it.
  const storage = createCookieSessionStorage({
    cookie: { name: "toolgate", httpOnly: true, sameSite: "lax", secure: false, path: "/", secrets: [secrets.sessionSecret] },
  });
  const session = await storage.getSession();
  session.set("sid", sid);
  session.set("userId", fixture.users[0].id);
  fixture.sessionCookie = (await storage.commitSession(session)).split(";")[0];
  fixture.secrets = secrets;
  fixture.seedSeconds = (performance.now() - started) / 1000;
  fixture.dbBytes = fs.statSync(file).size;
  return fixture;
}
