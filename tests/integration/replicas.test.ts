/**
 * Several replicas on one PostgreSQL (docs/decisions/054, 055): three processes of the built app
 * behind a round-robin balancer with no sticky sessions, on the postgres project's database. Every
 * single-use, one-live-chain, revocation and rate-limit guarantee must hold across processes, not
 * only inside one. Needs `npm run build` (the replicas run bin/toolgate.js).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUser } from "~/auth/users.server";
import { deleteTool } from "~/servers/servers.server";
import { listToolsForServer } from "~/servers/tool-execution.server";
import { verifyAccessToken } from "~/oauth/tokens.server";
import { createTestContext, type TestContext } from "../helpers/context";
import { grantAccess, seedServer, startToolEndpoint } from "../helpers/mcp";
import { createTestDatabase } from "../helpers/postgres";
import { listenBalancer, startReplicas, type ReplicaSet } from "../helpers/replicas";
import { issueCode, makeClient, postForm, REDIRECT } from "./oauth-fixtures";

type World = { ctx: TestContext; set: ReplicaSet; serverId: string; userId: string };

/** A test context on a fresh PostgreSQL database and `count` replicas serving it; PUBLIC_URL is the balancer. */
async function startWorld(count: number, env: Record<string, string> = {}): Promise<World & { endpoint: Awaited<ReturnType<typeof startToolEndpoint>> }> {
  const balancer = await listenBalancer();
  const ctx = createTestContext({ PUBLIC_URL: balancer.url });
  // The replicas run on the real clock; rows made here must not look expired to them.
  ctx.setNow(Date.now());
  const endpoint = await startToolEndpoint();
  const { userId, serverId } = await seedServer(ctx, endpoint.url, [
    { name: "lookup", path: "/lookup" },
    { name: "update", path: "/update" },
  ]);
  const set = await startReplicas({ count, balancer, databaseUrl: ctx.databaseEnv.TOOLGATE_DATABASE_URL!, env: { TOOLGATE_RATE_LIMIT: "off", ...env } });
  return { ctx, set, serverId, userId, endpoint };
}

/** tools/list at one address with a bearer token: the status and the tool names. */
async function listTools(baseUrl: string, serverId: string, token: string): Promise<{ status: number; names: string[] }> {
  const res = await fetch(`${baseUrl}/mcp/${serverId}`, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${token}`,
      "Content-Type": "application/json",
      Accept: "application/json, text/event-stream",
      "MCP-Protocol-Version": "2025-11-25",
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list", params: {} }),
  });
  const body = (await res.json()) as { result?: { tools: { name: string }[] } };
  return { status: res.status, names: body.result?.tools.map((t) => t.name) ?? [] };
}

describe("three replicas on one PostgreSQL", () => {
  let w: Awaited<ReturnType<typeof startWorld>>;
  beforeAll(async () => {
    w = await startWorld(3);
  }, 60_000);
  afterAll(async () => {
    await w?.set.stop();
    await w?.endpoint.close();
    w?.ctx.cleanup();
  });

  const exchange = (clientId: string, code: string, verifier: string) =>
    postForm(w.set.url, "/token", { grant_type: "authorization_code", client_id: clientId, code, code_verifier: verifier, redirect_uri: REDIRECT });
  const refresh = (clientId: string, token: string) => postForm(w.set.url, "/token", { grant_type: "refresh_token", client_id: clientId, refresh_token: token });

  it("a code redeemed 50 times at once over 3 replicas: one success, 49 invalid_grant, and the replay revokes what was issued", async () => {
    const { clientId } = await makeClient(w.ctx);
    const { code, verifier } = await issueCode(w.ctx, { clientId, userId: w.userId, serverId: w.serverId });
    const before = w.set.answeredBy.length;
    const results = await Promise.all(Array.from({ length: 50 }, () => exchange(clientId, code, verifier)));
    expect(new Set(w.set.answeredBy.slice(before))).toEqual(new Set([0, 1, 2]));
    const ok = results.filter((r) => r.status === 200);
    expect(ok).toHaveLength(1);
    expect(results.filter((r) => r.status === 400 && r.body?.error === "invalid_grant")).toHaveLength(49);
    // RFC 6749 §10.5: the code was replayed, so the tokens it gave are revoked, on every replica.
    const token = ok[0]!.body!.access_token as string;
    for (const replica of w.set.replicas) expect((await listTools(replica.url, w.serverId, token)).status).toBe(401);
    expect(await w.ctx.countRows("select count(*) from token_families f join grants g on g.id = f.grant_id where g.client_id = ?", clientId)).toBe(1);
  });

  it("20 refreshes of one token at once over 3 replicas: all answered, one live chain", async () => {
    const { clientId } = await makeClient(w.ctx);
    const { code, verifier, grantId } = await issueCode(w.ctx, { clientId, userId: w.userId, serverId: w.serverId });
    const first = await exchange(clientId, code, verifier);
    expect(first.status).toBe(200);
    const results = await Promise.all(Array.from({ length: 20 }, () => refresh(clientId, first.body!.refresh_token as string)));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    const live = [];
    for (const r of results) if ((await verifyAccessToken(w.ctx, r.body!.access_token as string)) !== null) live.push(r);
    expect(live).toHaveLength(1);
    expect(
      await w.ctx.countRows("select count(*) from refresh_tokens where grant_id = ? and rotated_at is null and revoked_at is null", grantId),
    ).toBe(1);
    // The chain goes on from the live successor, through any replica.
    const next = await refresh(clientId, live[0]!.body!.refresh_token as string);
    expect(next.status).toBe(200);
    for (const replica of w.set.replicas) expect((await listTools(replica.url, w.serverId, next.body!.access_token as string)).status).toBe(200);
  });

  it("a revocation on one replica is refused by the others on their very next request", async () => {
    const { clientId, tokens } = await grantAccess(w.ctx, { userId: w.userId, serverId: w.serverId }, ["lookup", "update"]);
    // Every replica has served the token (and cached what it caches) before the revocation.
    for (const replica of w.set.replicas) expect((await listTools(replica.url, w.serverId, tokens.accessToken)).status).toBe(200);
    const [a, b, c] = w.set.replicas;
    const revoked = await postForm(a!.url, "/revoke", { token: tokens.accessToken, client_id: clientId });
    expect(revoked.status).toBe(200);
    expect((await listTools(b!.url, w.serverId, tokens.accessToken)).status).toBe(401);
    expect((await listTools(c!.url, w.serverId, tokens.accessToken)).status).toBe(401);
  });

  it("a tool removed through one replica's database is gone from every replica's list at once", async () => {
    const { tokens } = await grantAccess(w.ctx, { userId: w.userId, serverId: w.serverId }, ["lookup", "update"]);
    for (const replica of w.set.replicas) expect((await listTools(replica.url, w.serverId, tokens.accessToken)).names).toEqual(["lookup", "update"]);
    const update = (await listToolsForServer(w.ctx, w.serverId)).find((t) => t.name === "update")!;
    expect(await deleteTool(w.ctx, w.userId, w.serverId, update.id)).toBe(true);
    for (const replica of w.set.replicas) expect((await listTools(replica.url, w.serverId, tokens.accessToken)).names).toEqual(["lookup"]);
  });

  it("a browser session made on one replica is honoured by the others", async () => {
    const email = `replica-${Date.now()}@example.test`;
    await createUser(w.ctx, { email, password: "correct horse battery staple" });
    const [a, b, c] = w.set.replicas;
    const page = await fetch(`${a!.url}/sign-in`);
    const html = await page.text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
    expect(csrf).toBeTruthy();
    const cookies = page.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
    const signIn = await fetch(`${b!.url}/sign-in`, {
      method: "POST",
      redirect: "manual",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Cookie: cookies, Origin: w.set.url },
      body: new URLSearchParams({ csrf: csrf!, email, password: "correct horse battery staple" }),
    });
    expect(signIn.status).toBe(302);
    const session = signIn.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
    const servers = await fetch(`${c!.url}/connections`, { redirect: "manual", headers: { Cookie: session } });
    // Signed in there too: the page itself, not a redirect to the sign-in form.
    expect(servers.status).toBe(200);
    expect(await servers.text()).not.toContain('name="password"');
  });
});

describe("replicas starting together on an empty database", () => {
  it("all three migrate it (one applies, the others wait on the lock) and become ready", async () => {
    const url = await createTestDatabase();
    const set = await startReplicas({ count: 3, databaseUrl: url, env: { TOOLGATE_RATE_LIMIT: "off" } });
    try {
      for (const replica of set.replicas) expect((await fetch(`${replica.url}/readyz`)).status).toBe(200);
    } finally {
      await set.stop();
    }
  }, 60_000);
});

describe("rate limits shared by the replicas", () => {
  let w: Awaited<ReturnType<typeof startWorld>>;
  beforeAll(async () => {
    w = await startWorld(3, { TOOLGATE_RATE_LIMIT: "on" });
  }, 60_000);
  afterAll(async () => {
    await w?.set.stop();
    await w?.endpoint.close();
    w?.ctx.cleanup();
  });

  it("one address gets the /register burst once across all replicas, not once per replica", async () => {
    const register = () =>
      fetch(`${w.set.url}/register`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ client_name: "Burst", redirect_uris: ["http://127.0.0.1/cb"], token_endpoint_auth_method: "none" }),
      }).then((r) => r.status);
    const statuses: number[] = [];
    // Sequential, so the refill during the run is small and the count exact enough to tell one
    // shared bucket (60) from three (180).
    for (let i = 0; i < 90; i++) statuses.push(await register());
    const allowed = statuses.filter((s) => s === 201).length;
    expect(allowed).toBeGreaterThanOrEqual(60);
    expect(allowed).toBeLessThan(70);
    expect(statuses.filter((s) => s === 429).length).toBe(90 - allowed);
  }, 60_000);
});

describe("kill -9 of one replica under load", () => {
  let w: Awaited<ReturnType<typeof startWorld>>;
  beforeAll(async () => {
    w = await startWorld(3);
  }, 60_000);
  afterAll(async () => {
    await w?.set.stop();
    await w?.endpoint.close();
    w?.ctx.cleanup();
  });

  it("every registration a client was told of exists, and the other replicas keep answering", async () => {
    const told: string[] = [];
    const failed: number[] = [];
    let stop = false;
    const worker = async () => {
      while (!stop) {
        const res = await fetch(`${w.set.url}/register`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ client_name: "Under load", redirect_uris: ["http://127.0.0.1/cb"], token_endpoint_auth_method: "none" }),
        }).catch(() => null);
        if (res?.status === 201) told.push(((await res.json()) as { client_id: string }).client_id);
        else failed.push(res?.status ?? 0);
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    await new Promise((r) => setTimeout(r, 700));
    await w.set.kill(1, "SIGKILL");
    const toldAtKill = told.length;
    await new Promise((r) => setTimeout(r, 1500));
    stop = true;
    await Promise.all(workers);
    // The others went on answering after the kill.
    expect(told.length).toBeGreaterThan(toldAtKill + 20);
    // A request cut by the kill may fail (502); none that was answered 201 is lost.
    for (const status of failed) expect([502]).toContain(status);
    const stored = await w.ctx.queryRows<{ id: string }>("select id from oauth_clients where client_name = 'Under load'");
    const ids = new Set(stored.map((r) => r.id));
    for (const id of told) expect(ids.has(id)).toBe(true);
  }, 60_000);
});
