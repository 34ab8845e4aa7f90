// Micro-benchmark: the cost of one primary-key read through Drizzle's query builder (which builds
// the SQL and prepares a new SQLite statement on every call) versus a statement prepared once.
// Measures CPU time per call in this process, so it is far less sensitive to other load on the
// machine than the HTTP figures. Usage: node bench/micro/query-cost.mjs [rows]
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createHash, randomBytes } from "node:crypto";
import Database from "better-sqlite3";
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/better-sqlite3";
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

const rows = Number(process.argv[2] ?? 100_000);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-micro-"));
const sqlite = new Database(path.join(dir, "m.db"));
sqlite.pragma("journal_mode = WAL");
sqlite.exec(`create table access_tokens (token_hash text primary key, family_id text not null, grant_id text not null,
  client_id text not null, user_id text not null, server_id text not null, scope text not null,
  created_at integer not null, expires_at integer not null, revoked_at integer)`);
const accessTokens = sqliteTable("access_tokens", {
  tokenHash: text("token_hash").primaryKey(),
  familyId: text("family_id").notNull(),
  grantId: text("grant_id").notNull(),
  clientId: text("client_id").notNull(),
  userId: text("user_id").notNull(),
  serverId: text("server_id").notNull(),
  scope: text("scope").notNull(),
  createdAt: integer("created_at").notNull(),
  expiresAt: integer("expires_at").notNull(),
  revokedAt: integer("revoked_at"),
});
const keys = [];
const ins = sqlite.prepare("insert into access_tokens values (?, 'f', 'g', 'c', 'u', 's', 'mcp:tools', 0, 9e12, null)");
sqlite.transaction(() => {
  for (let i = 0; i < rows; i++) {
    const h = createHash("sha256").update(randomBytes(32)).digest("hex");
    ins.run(h);
    if (i % 97 === 0) keys.push(h);
  }
})();
const db = drizzle(sqlite);

const viaBuilder = (k) =>
  db
    .select({
      grantId: accessTokens.grantId,
      familyId: accessTokens.familyId,
      clientId: accessTokens.clientId,
      userId: accessTokens.userId,
      serverId: accessTokens.serverId,
      scope: accessTokens.scope,
      expiresAt: accessTokens.expiresAt,
      revokedAt: accessTokens.revokedAt,
    })
    .from(accessTokens)
    .where(eq(accessTokens.tokenHash, k))
    .get();
const stmt = sqlite.prepare(
  "select grant_id as grantId, family_id as familyId, client_id as clientId, user_id as userId, server_id as serverId, scope, expires_at as expiresAt, revoked_at as revokedAt from access_tokens where token_hash = ?",
);
const viaPrepared = (k) => stmt.get(k);
const q = db
  .select({ grantId: accessTokens.grantId, serverId: accessTokens.serverId, revokedAt: accessTokens.revokedAt })
  .from(accessTokens)
  .where(eq(accessTokens.tokenHash, (await import("drizzle-orm")).sql.placeholder("h")))
  .prepare();
const viaDrizzlePrepared = (k) => q.get({ h: k });

function time(label, fn, n = 50_000) {
  for (let i = 0; i < 2000; i++) fn(keys[i % keys.length]);
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) if (!fn(keys[i % keys.length])) throw new Error("miss");
  const c = process.cpuUsage(c0);
  const us = (c.user + c.system) / n;
  console.log(`${label.padEnd(48)} ${us.toFixed(1).padStart(7)} µs CPU per call`);
  return us;
}
console.log(`${rows.toLocaleString("en")} rows, node ${process.version}`);
for (let round = 0; round < 2; round++) {
  time("drizzle query builder (prepare per call)", viaBuilder);
  time("drizzle .prepare() once, placeholder", viaDrizzlePrepared);
  time("better-sqlite3 statement prepared once", viaPrepared);
}
sqlite.close();
fs.rmSync(dir, { recursive: true, force: true });
