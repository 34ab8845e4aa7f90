/**
 * The benchmark's seeding (bench/lib/seed.mjs) writes rows straight into SQLite. This checks that
 * the app's own modules accept them: if the schema or a storage format changes, the bench would
 * otherwise measure error paths. Not a performance test: nothing here is timed.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eq } from "drizzle-orm";
import { getUser } from "~/auth/session.server";
import { parseConfig } from "~/config.server";
import type { AppContext } from "~/context.server";
import { openStore } from "~/db/client.server";
import { mcpServers } from "~/db/schema";
import { findMcpServer, listGrantedTools } from "~/mcp/granted-tools.server";
import { loadPendingRequest } from "~/oauth/authorize.server";
import { resolveClient } from "~/oauth/clients.server";
import { verifyAccessToken } from "~/oauth/tokens.server";
import { decryptText } from "~/utils/crypto.server";
import { createLogger } from "~/utils/log.server";
import { seed } from "../../bench/lib/seed.mjs";

const PUBLIC_URL = "http://127.0.0.1:3999";
let dir: string;
let ctx: AppContext;
let fixture: Awaited<ReturnType<typeof seed>>;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-bench-seed-"));
  fixture = await seed(dir, {
    scale: 200,
    accessPool: 20,
    refreshPool: 10,
    authRequests: 5,
    publicUrl: PUBLIC_URL,
    toolEndpointUrl: "http://127.0.0.1:9/tool",
  });
  const store = openStore(path.join(dir, "toolgate.db"));
  ctx = {
    config: parseConfig({ PUBLIC_URL, TOOLGATE_DATA_DIR: dir, TOOLGATE_LOG_LEVEL: "silent" }),
    secrets: fixture.secrets,
    db: store.db,
    store,
    logger: createLogger("silent"),
    now: Date.now,
  };
});
afterAll(async () => {
  await ctx?.store.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe("bench seeding", () => {
  it("stores the requested number of tokens", async () => {
    expect(fixture.counts.access_tokens).toBe(200);
    expect(fixture.counts.refresh_tokens).toBe(210);
    expect(fixture.counts.tools).toBe(100);
  });

  it("stores access tokens the app's bearer check accepts, with the grant's tools", async () => {
    const known = fixture.accessTokens[7]!;
    const verified = await verifyAccessToken(ctx, known.token);
    expect(verified?.serverId).toBe(known.serverId);
    const server = (await findMcpServer(ctx, verified!.serverId))!;
    const tools = await listGrantedTools(ctx, verified!.grantId, verified!.serverId, server.toolsVersion);
    expect(tools.map((t) => t.name)).toEqual(Array.from({ length: 10 }, (_, i) => `tool_${i}`));
    expect(await verifyAccessToken(ctx, known.token.slice(0, -1) + (known.token.endsWith("A") ? "B" : "A"))).toBeNull();
  });

  it("seals server signing secrets with the data key", async () => {
    const row = (await ctx.db.select().from(mcpServers).where(eq(mcpServers.id, fixture.servers[0]!.id)).limit(1))[0]!;
    expect(decryptText(ctx.secrets.dataKey, row.signingSecretEnc)).toMatch(/^tgs_/);
  });

  it("stores clients, pending requests and a signed-in session the app reads back", async () => {
    const client = await resolveClient(ctx, fixture.clients[0]!.id);
    expect(client?.redirectUris).toEqual([fixture.clients[0]!.redirectUri]);
    expect((await loadPendingRequest(ctx, fixture.authRequestIds[0])).serverId).toBe(fixture.servers[0]!.id);
    const user = await getUser(ctx, new Request(`${PUBLIC_URL}/`, { headers: { cookie: fixture.sessionCookie } }));
    expect(user?.id).toBe(fixture.users[0]!.id);
  });
});
