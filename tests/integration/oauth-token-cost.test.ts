/**
 * What the cheaper token and registration paths must keep: the client's "last used" after a
 * refresh (written in the grant's own transaction, also when the grant fails), the grant's after
 * the batched flush, index lookups for every read of a refresh, and the same answers from the
 * Node fast path as from the fetch-style handlers.
 */
import { describe, expect, it } from "vitest";
import { eq } from "drizzle-orm";
import type { RunningServer } from "~/http/server.server";
import { callProtocol } from "../helpers/protocol";
import { grants, oauthClients } from "~/db/schema";
import { flushLastUsed } from "~/mcp/last-used.server";
import { PRESENTED_REFRESH_TOKEN as PRESENTED_REFRESH_PG } from "~/db/hot-postgres.server";
import { PRESENTED_REFRESH_TOKEN as PRESENTED_REFRESH_ROW } from "~/db/hot-sqlite.server";
import type { PostgresStore } from "~/db/store.server";
import type { TestContext } from "../helpers/context";
import { onPostgres } from "../helpers/postgres-store";
import { issueTokens, makeUserAndServer, postForm, useOAuthWorld } from "./oauth-fixtures";

let ctx: TestContext;
let server: RunningServer;
let world: Awaited<ReturnType<typeof makeUserAndServer>>;
let clientId: string;

useOAuthWorld({ TOOLGATE_REFRESH_GRACE: "30" }, (w) => ({ ctx, server, world, clientId } = w));

const clientLastUsed = async (id = clientId) => (await ctx.db.select().from(oauthClients).where(eq(oauthClients.id, id)).limit(1))[0]!.lastUsedAt;
const grantLastUsed = async (id: string) => (await ctx.db.select().from(grants).where(eq(grants.id, id)).limit(1))[0]!.lastUsedAt;
const refresh = (token: string, extra: Record<string, string> = {}) =>
  postForm(server.url, "/token", { grant_type: "refresh_token", client_id: clientId, refresh_token: token, ...extra });

describe("last used after the token endpoint", () => {
  it("a refresh marks its client as used (in its transaction) and its grant after the flush", async () => {
    const { refresh: token, grantId } = await issueTokens(ctx, server.url, { clientId, ...world });
    await flushLastUsed(ctx);
    const issuedAt = ctx.now();
    expect(await clientLastUsed()).toBe(issuedAt);
    // At most once a minute: a refresh 30 s later leaves it alone, one 2 minutes later moves it.
    ctx.advance(30_000);
    const first = await refresh(token);
    expect(first.status).toBe(200);
    expect(await clientLastUsed()).toBe(issuedAt);
    ctx.advance(120_000);
    const second = await refresh(first.body!.refresh_token as string);
    expect(second.status).toBe(200);
    expect(await clientLastUsed()).toBe(ctx.now());
    // The grant's last use is batched: written by the flush, not by the request.
    expect(await grantLastUsed(grantId)).toBe(issuedAt);
    await flushLastUsed(ctx);
    expect(await grantLastUsed(grantId)).toBe(ctx.now());
  });

  it("a refresh that fails still marks the client that authenticated as used", async () => {
    const { refresh: token } = await issueTokens(ctx, server.url, { clientId, ...world });
    // Thrown inside the grant's transaction (rolled back): invalid_scope.
    ctx.advance(120_000);
    const widened = await refresh(token, { scope: "mcp:tools admin" });
    expect(widened.status).toBe(400);
    expect(widened.body!.error).toBe("invalid_scope");
    expect(await clientLastUsed()).toBe(ctx.now());
    // Answered from a committed transaction: an unknown token.
    ctx.advance(120_000);
    const unknown = await refresh("tgr_not-a-token");
    expect(unknown.body!.error).toBe("invalid_grant");
    expect(await clientLastUsed()).toBe(ctx.now());
    // Thrown before the transaction: the refresh_token parameter is missing.
    ctx.advance(120_000);
    const missing = await postForm(server.url, "/token", { grant_type: "refresh_token", client_id: clientId });
    expect(missing.body!.error).toBe("invalid_request");
    expect(await clientLastUsed()).toBe(ctx.now());
  });

  it("a refresh whose family or grant is gone is refused (the joined read's missing rows)", async () => {
    const { refresh: token, grantId } = await issueTokens(ctx, server.url, { clientId, ...world });
    // The grant row goes without its dependants, as no code path of the app would do it.
    if (onPostgres) {
      expect(grantId).toMatch(/^[\w-]+$/);
      await ctx.queryRows(`begin; set local session_replication_role = replica; delete from grants where id = '${grantId}'; commit`);
    } else {
      ctx.store.sqlite.pragma("foreign_keys = OFF");
      ctx.store.sqlite.prepare("delete from grants where id = ?").run(grantId);
      ctx.store.sqlite.pragma("foreign_keys = ON");
    }
    expect(await ctx.countRows("select count(*) from grants where id = ?", grantId)).toBe(0);
    const res = await refresh(token);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: "invalid_grant", error_description: "The refresh token was revoked" });
  });
});

describe("query plans of the refresh grant", () => {
  it("reads the token, its family and its grant by primary key", async () => {
    if (onPostgres) {
      // Tiny tables make a sequential scan the planner's cheapest choice; with it off, the plan
      // shows that each lookup can follow a primary-key index.
      const client = await (ctx.store as unknown as PostgresStore).pool.connect();
      try {
        await client.query("set enable_seqscan = off");
        const { rows } = await client.query<{ "QUERY PLAN": string }>(`explain ${PRESENTED_REFRESH_PG(["x"]).text}`, ["x"]);
        const text = rows.map((r) => r["QUERY PLAN"]).join("\n");
        for (const index of ["refresh_tokens_pkey", "token_families_pkey", "grants_pkey"]) expect(text).toContain(`using ${index}`);
        expect(text).not.toMatch(/Seq Scan/);
      } finally {
        await client.query("reset enable_seqscan");
        client.release();
      }
      return;
    }
    const plan = ctx.store.sqlite.prepare(`explain query plan ${PRESENTED_REFRESH_ROW}`).all("x") as { detail: string }[];
    const details = plan.map((p) => p.detail);
    expect(details).toHaveLength(3);
    expect(details.some((d) => /SEARCH r USING INDEX sqlite_autoindex_refresh_tokens_1 \(token_hash=\?\)/.test(d))).toBe(true);
    expect(details.some((d) => /SEARCH f USING INDEX sqlite_autoindex_token_families_1 \(id=\?\)/.test(d))).toBe(true);
    expect(details.some((d) => /SEARCH g USING INDEX sqlite_autoindex_grants_1 \(id=\?\)/.test(d))).toBe(true);
    expect(details.join("\n")).not.toMatch(/SCAN/);
  });
});

describe("answers over HTTP equal the same handlers called in-process", () => {
  // The server adds these to every answer (or per connection); the handler's own headers must match.
  const volatile = new Set(["date", "connection", "keep-alive", "x-request-id", "content-length", "transfer-encoding", "x-content-type-options"]);
  const headersOf = (headers: Headers) => [...headers].filter(([name]) => !volatile.has(name));

  it("POST /register: 201, the same headers, the same body shape", async () => {
    const metadata = { client_name: "Fast", redirect_uris: ["http://127.0.0.1:45678/callback"], token_endpoint_auth_method: "none" };
    const init = { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(metadata) };
    const fast = await fetch(`${server.url}/register`, init);
    const slow = await callProtocol(ctx, new Request(`${ctx.config.publicUrl}/register`, init));
    expect(fast.status).toBe(201);
    expect(slow.status).toBe(201);
    expect(headersOf(fast.headers)).toEqual(headersOf(slow.headers));
    expect(fast.headers.get("cache-control")).toBe("no-store");
    expect(fast.headers.get("content-type")).toBe("application/json");
    const [a, b] = [(await fast.json()) as Record<string, unknown>, (await slow.json()) as Record<string, unknown>];
    expect(Object.keys(a)).toEqual(Object.keys(b));
    expect({ ...a, client_id: "", client_id_issued_at: 0 }).toEqual({ ...b, client_id: "", client_id_issued_at: 0 });
  });

  it("POST /token: a refresh and an error answer with the same headers on both paths", async () => {
    const tokens = await issueTokens(ctx, server.url, { clientId, ...world });
    const next = await issueTokens(ctx, server.url, { clientId, ...world });
    const form = (token: string) => ({
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "refresh_token", client_id: clientId, refresh_token: token }).toString(),
    });
    const slowCall = (token: string) =>
      callProtocol(ctx, new Request(`${ctx.config.publicUrl}/token`, form(token)));
    const fast = await fetch(`${server.url}/token`, form(tokens.refresh));
    const slow = await slowCall(next.refresh);
    expect(fast.status).toBe(200);
    expect(slow.status).toBe(200);
    expect(headersOf(fast.headers)).toEqual(headersOf(slow.headers));
    expect(Object.keys((await fast.json()) as object)).toEqual(Object.keys((await slow.json()) as object));
    const fastError = await fetch(`${server.url}/token`, form("tgr_unknown"));
    const slowError = await slowCall("tgr_unknown");
    expect(fastError.status).toBe(400);
    expect(headersOf(fastError.headers)).toEqual(headersOf(slowError.headers));
    expect(await fastError.json()).toEqual(await slowError.json());
  });
});
