/**
 * The hand-written hot-path SQL (app/db/hot.server.ts) gives the same results on both dialects:
 * the same rows seeded through the query builder into a SQLite store and a PostgreSQL store, then
 * every HotSql function called in the same order on each, results compared one by one (reads,
 * conditional writes and what they leave behind).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { openStore } from "~/db/client.server";
import { openPostgresStore } from "~/db/postgres-store.server";
import type { Store } from "~/db/store.server";
import { createTestDatabase } from "../helpers/postgres";

const T = 1_767_268_800_000; // 2026-01-01T12:00:00Z: epoch milliseconds beyond int4

async function seed(store: Store): Promise<void> {
  const { db, tables: t } = store;
  await db.insert(t.users).values([
    { id: "u1", email: "owner@example.com", name: "Owner", role: "owner", createdAt: T, updatedAt: T },
    { id: "u2", email: "member@example.com", name: null, role: "member", createdAt: T, updatedAt: T },
  ]);
  await db.insert(t.sessions).values({ id: "sess-hash", userId: "u1", createdAt: T, expiresAt: T + 3_600_000 });
  await db.insert(t.mcpServers).values([
    { id: "s1", ownerId: "u1", name: "Zeta", description: "first", signingSecretEnc: "enc1", createdAt: T, updatedAt: T, dpopRequired: true },
    { id: "s2", ownerId: "u1", name: "alpha", signingSecretEnc: "enc2", createdAt: T, updatedAt: T, enterpriseAccess: true, baseUrl: "https://api.example" },
    { id: "s3", ownerId: "u1", name: "Beta", signingSecretEnc: "enc3", createdAt: T, updatedAt: T },
  ]);
  // Names whose byte order differs from a linguistic one (upper case before lower case, "_" after letters).
  await db.insert(t.tools).values(
    ["b_tool", "Zed", "a", "B", "_x"].map((name, i) => ({
      id: `t${i}`,
      serverId: "s1",
      name,
      description: `tool ${name}`,
      inputSchema: `{"type":"object","n":${i}}`,
      endpointUrl: `https://up.example/${i}`,
      annotations: i % 2 ? `{"readOnlyHint":true}` : null,
      createdAt: T + i,
      updatedAt: T + i,
    })),
  );
  await db.insert(t.oauthClients).values([
    { id: "c1", kind: "registered", clientName: "Client One", redirectUris: `["https://c1.example/cb"]`, metadata: `{"a":1}`, createdAt: T },
    { id: "c2", kind: "machine", clientName: "Machine", redirectUris: "[]", metadata: "{}", createdAt: T, lastUsedAt: T - 1_000 },
    { id: "C0", kind: "metadata_document", clientName: "Doc", redirectUris: "[]", metadata: "{}", createdAt: T },
  ]);
  await db.insert(t.grants).values([
    { id: "g1", userId: "u1", clientId: "c1", serverId: "s1", scope: "mcp", createdAt: T, updatedAt: T, source: "consent" },
    { id: "g2", userId: "u1", clientId: "c2", serverId: "s2", scope: "mcp", createdAt: T, updatedAt: T, source: "machine", lastUsedAt: T + 50 },
  ]);
  await db.insert(t.grantTools).values(["t0", "t1", "t3", "t4"].map((toolId) => ({ grantId: "g1", toolId })));
  await db.insert(t.tokenFamilies).values({ id: "f1", grantId: "g1", createdAt: T });
  await db.insert(t.authorizationRequests).values({
    id: "r1", clientId: "c1", redirectUri: "https://c1.example/cb", redirectUriProvided: true, state: null,
    codeChallenge: "cc", scope: "mcp", resource: null, serverId: "s1", createdAt: T, expiresAt: T + 600_000,
  });
  await db.insert(t.auditEvents).values(
    ["c2", "c1", null, "C0", "c1"].map((clientId, i) => ({ at: T + i, kind: "tool_call", serverId: "s1", clientId, detail: "{}" })),
  );
}

/** Every HotSql function, in an order where later calls see what earlier writes did. */
const steps: [string, (s: Store) => Promise<unknown>][] = [
  ["claimReplayKey new", (s) => s.hot.claimReplayKey(s.db, "k1", T + 10, T)],
  ["claimReplayKey live", (s) => s.hot.claimReplayKey(s.db, "k1", T + 20, T + 5)],
  ["claimReplayKey expired", (s) => s.hot.claimReplayKey(s.db, "k1", T + 30, T + 10)],
  ["deleteExpiredReplayKeys", (s) => s.hot.deleteExpiredReplayKeys(s.db, T + 30)],
  ["insertShownOnce", (s) => s.hot.insertShownOnce(s.db, { refHash: "ref", userId: "u1", purpose: "p", secretEnc: "sec", createdAt: T, expiresAt: T + 60_000 })],
  ["takeShownOnce other purpose", (s) => s.hot.takeShownOnce(s.db, "ref", "u1", "q")],
  ["takeShownOnce", (s) => s.hot.takeShownOnce(s.db, "ref", "u1", "p")],
  ["takeShownOnce again", (s) => s.hot.takeShownOnce(s.db, "ref", "u1", "p")],
  ["deleteExpiredShownOnce", (s) => s.hot.deleteExpiredShownOnce(s.db, T)],
  ["insertAuditEvent", (s) => s.hot.insertAuditEvent(s.db, { at: T + 9, kind: "k", serverId: "s2", userId: "u1", clientId: "c1", grantId: "g1", actor: "a", detail: "{}" })],
  [
    "insertTokens",
    (s) =>
      s.hot.insertTokens(
        s.db,
        { tokenHash: "at1", familyId: "f1", grantId: "g1", clientId: "c1", userId: "u1", serverId: "s1", scope: "mcp", createdAt: T, expiresAt: T + 3_600_000, dpopJkt: null },
        { tokenHash: "rt1", familyId: "f1", grantId: "g1", clientId: "c1", createdAt: T, expiresAt: T + 86_400_000, accessTokenHash: "at1", dpopJkt: "jkt" },
      ),
  ],
  [
    "insertTokens access only",
    (s) =>
      s.hot.insertTokens(s.db, { tokenHash: "at2", familyId: "f1", grantId: "g1", clientId: "c1", userId: "u1", serverId: "s1", scope: "mcp", createdAt: T, expiresAt: T + 1, dpopJkt: "j" }, null),
  ],
  ["accessTokenWithServer", (s) => s.hot.accessTokenWithServer(s.db, "at1")],
  ["accessTokenWithServer missing", (s) => s.hot.accessTokenWithServer(s.db, "nope")],
  ["grantById", (s) => s.hot.grantById(s.db, "g1")],
  ["presentedRefreshToken", (s) => s.hot.presentedRefreshToken(s.db, "rt1")],
  ["refreshToken", (s) => s.hot.refreshToken(s.db, "rt1")],
  ["claimRotation", (s) => s.hot.claimRotation(s.db, "rt1", "rt2", T + 100)],
  ["claimRotation again", (s) => s.hot.claimRotation(s.db, "rt1", "rt3", T + 101)],
  ["claimSupersession rotated", (s) => s.hot.claimSupersession(s.db, "rt1", T + 102)],
  ["repointSuccessor", (s) => s.hot.repointSuccessor(s.db, "rt1", "rt2", "rt4")],
  ["repointSuccessor stale", (s) => s.hot.repointSuccessor(s.db, "rt1", "rt2", "rt5")],
  ["refreshToken after", (s) => s.hot.refreshToken(s.db, "rt1")],
  ["revokeAccessToken", (s) => s.hot.revokeAccessToken(s.db, "at1", T + 103)],
  ["accessTokenWithServer revoked", (s) => s.hot.accessTokenWithServer(s.db, "at1")],
  ["machineGrant", (s) => s.hot.machineGrant(s.db, "c2")],
  ["serverAccess", (s) => s.hot.serverAccess(s.db, "s2")],
  ["serverToolNames", async (s) => (await s.hot.serverToolNames(s.db, "s1")).sort((a, b) => a.id.localeCompare(b.id))],
  ["clientById", (s) => s.hot.clientById(s.db, "c2")],
  ["clientMetadata", (s) => s.hot.clientMetadata(s.db, "c1")],
  [
    "insertRegisteredClient",
    (s) =>
      s.hot.insertRegisteredClient(s.db, {
        id: "c9", secretHash: null, tokenEndpointAuthMethod: "none", clientName: "New", clientUri: null, logoUri: null,
        redirectUris: "[]", metadata: "{}", createdAt: T,
      }),
  ],
  ["clientById new", (s) => s.hot.clientById(s.db, "c9")],
  ["touchClient", (s) => s.hot.touchClient(s.db, "c2", T + 120_000)],
  ["touchClient within a minute", (s) => s.hot.touchClient(s.db, "c2", T + 150_000)],
  ["clientById touched", (s) => s.hot.clientById(s.db, "c2")],
  ["mcpServer", (s) => s.hot.mcpServer(s.db, "s1")],
  ["grantedTools", (s) => s.hot.grantedTools(s.db, "g1", "s1")],
  ["toolByName granted", (s) => s.hot.toolByName(s.db, "g1", "s1", "Zed")],
  ["toolByName not granted", (s) => s.hot.toolByName(s.db, "g1", "s1", "B")],
  ["toolInputSchema", (s) => s.hot.toolInputSchema(s.db, "s1", "a")],
  ["serverUpstream", (s) => s.hot.serverUpstream(s.db, "s2")],
  ["recordGrantUses", (s) => s.hot.recordGrantUses([["g1", T + 10], ["g2", T + 5], ["g1", T + 30], ["g1", T + 20]])],
  ["grant uses recorded", (s) => s.db.select({ id: s.tables.grants.id, lastUsedAt: s.tables.grants.lastUsedAt }).from(s.tables.grants).orderBy(s.tables.grants.id)],
  ["sessionUser", (s) => s.hot.sessionUser(s.db, "sess-hash", "u1", T)],
  ["sessionUser expired", (s) => s.hot.sessionUser(s.db, "sess-hash", "u1", T + 3_600_000)],
  ["pendingRequest", (s) => s.hot.pendingRequest(s.db, "r1")],
  ["clientName", (s) => s.hot.clientName(s.db, "c1")],
  ["serverName", (s) => s.hot.serverName(s.db, "s3")],
  ["ownedServer", (s) => s.hot.ownedServer(s.db, "s1", "u1")],
  ["ownedServer other owner", (s) => s.hot.ownedServer(s.db, "s1", "u2")],
  ["ownedServers", (s) => s.hot.ownedServers(s.db, "u1")],
  ["consentTools", (s) => s.hot.consentTools(s.db, "s1")],
  ["serverForMetadata", (s) => s.hot.serverForMetadata(s.db, "s1")],
  ["activityClients", (s) => s.hot.activityClients(s.db, "s1", 10)],
  ["activityClients limited", (s) => s.hot.activityClients(s.db, "s1", 2)],
];

describe("HotSql: the same results on SQLite and PostgreSQL", () => {
  let sqlite: Store;
  let postgres: Store;
  let dir: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-hot-"));
    const file = path.join(dir, "toolgate.db");
    fs.copyFileSync(inject("templateDb"), file);
    sqlite = openStore(file);
    postgres = await openPostgresStore({ url: await createTestDatabase(), poolSize: 2, connectTimeoutS: 30 });
    await seed(sqlite);
    await seed(postgres);
  });
  afterAll(async () => {
    await sqlite?.close();
    await postgres?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("answers every step alike", async () => {
    for (const [name, step] of steps) {
      const expected = await step(sqlite);
      const actual = await step(postgres);
      expect({ step: name, result: actual }).toEqual({ step: name, result: expected });
    }
    // The SQLite answers are the reference; a few are checked outright so that both cannot be wrong alike.
    expect((await sqlite.hot.grantedTools(sqlite.db, "g1", "s1")).map((t) => t.name)).toEqual(["B", "Zed", "_x", "b_tool"]);
    expect(await postgres.hot.accessTokenWithServer(postgres.db, "at2")).toMatchObject({ serverDpopRequired: 1, expiresAt: T + 1 });
    expect((await postgres.hot.activityClients(postgres.db, "s1", 10)).map((c) => c.id)).toEqual(["C0", "c1", "c2"]);
  });
});
