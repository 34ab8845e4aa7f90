/**
 * The PostgreSQL store (app/db/postgres-store.server.ts, hot-postgres.server.ts) on a real
 * database: transactions on their own connection, savepoints for nested calls, statements made
 * inside a transaction's callback belonging to it, retries of deadlocked transactions, the
 * hand-written hot-path SQL, readiness, and a database outage the store recovers from.
 */
import { eq } from "drizzle-orm";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseConfig } from "~/config.server";
import { createAppContext } from "~/context.server";
import { openPostgresStore } from "~/db/postgres-store.server";
import { readinessEndpoint } from "~/http/health.server";
import { createLogger } from "~/utils/log.server";
import type { PostgresStore } from "~/db/store.server";
import { TransactionHandleError } from "~/db/transaction-check.server";
import { createTestDatabase, withAdminClient } from "../helpers/postgres";

describe("PostgreSQL store", () => {
  let url: string;
  let store: PostgresStore;
  let reader: pg.Pool;

  beforeAll(async () => {
    url = await createTestDatabase();
    store = await openPostgresStore({ url, poolSize: 4, connectTimeoutS: 30 });
    reader = new pg.Pool({ connectionString: url, max: 1 });
    // The outage test ends this pool's idle connection too.
    reader.on("error", () => {});
  });
  afterAll(async () => {
    await reader?.end();
    await store?.close();
  });

  // Rows of a real table (replay_guard, keys "1", "2", …) written through the portable query builder.
  const row = (n: number) => ({ key: String(n), expiresAt: n });
  const committed = async () =>
    (await reader.query<{ key: string }>("select key from replay_guard where key ~ '^[0-9]+$'")).rows.map((r) => Number(r.key)).sort((a, b) => a - b);
  const reset = () => store.pool.query("delete from replay_guard");

  it("commits when the callback resolves; rolls back everything when it rejects (PostgreSQL's own error, no parameters)", async () => {
    await reset();
    await store.transaction(async (tx) => {
      await tx.insert(store.tables.replayGuard).values(row(1));
      expect(await committed()).toEqual([]);
    });
    expect(await committed()).toEqual([1]);
    const failure = (await store
      .transaction(async (tx) => {
        await tx.insert(store.tables.replayGuard).values(row(2));
        await tx.insert(store.tables.replayGuard).values({ key: "2", expiresAt: 424242 });
      })
      .catch((error: unknown) => error)) as Error & { code?: string };
    expect(failure).toMatchObject({ code: "23505", constraint: "replay_guard_pkey" });
    expect(failure.message).not.toContain("424242");
    expect(await committed()).toEqual([1]);
  });

  it("refuses (under the test suite's check) the store's own handle inside a transaction's callback", async () => {
    await reset();
    // The store's own handle belongs to no transaction: made inside a callback it would run on
    // another connection, outside the transaction. The check names the mistake at once.
    for (const misuse of [
      () => store.db.insert(store.tables.replayGuard).values(row(10)),
      () => store.hot.claimReplayKey(store.db, "inside", 2_000, 1_000),
      () => store.transaction(async () => {}),
    ]) {
      await expect(
        store.transaction(async (tx) => {
          await tx.insert(store.tables.replayGuard).values(row(11));
          await misuse();
        }),
      ).rejects.toThrow(TransactionHandleError);
    }
    expect(await committed()).toEqual([]);
    expect(await store.hot.claimReplayKey(store.db, "inside", 2_000, 1_000)).toBe(true);
  });

  it("runs a hot-path call given a transaction's handle on that transaction", async () => {
    await expect(
      store.transaction(async (tx) => {
        expect(await store.hot.claimReplayKey(tx, "with-tx", 2_000, 1_000)).toBe(true);
        // Another connection does not see the uncommitted claim.
        const seen = await reader.query("select 1 from replay_guard where key = 'with-tx'");
        expect(seen.rowCount).toBe(0);
        throw new Error("roll back");
      }),
    ).rejects.toThrow("roll back");
    expect(await store.hot.claimReplayKey(store.db, "with-tx", 2_000, 1_000)).toBe(true);
  });

  it("makes nested calls savepoints: an inner failure rolls back the inner part only", async () => {
    await reset();
    await store.transaction(async (tx) => {
      await tx.insert(store.tables.replayGuard).values(row(1));
      await expect(
        store.transaction(async (inner) => {
          await inner.insert(store.tables.replayGuard).values(row(2));
          throw new Error("inner fails");
        }, tx),
      ).rejects.toThrow("inner fails");
      // Side by side nested calls take turns (savepoints nest as a stack).
      await Promise.all([
        store.transaction((inner) => inner.insert(store.tables.replayGuard).values(row(3)), tx),
        store.transaction((inner) => inner.insert(store.tables.replayGuard).values(row(4)), tx),
      ]);
    });
    expect(await committed()).toEqual([1, 3, 4]);
  });

  it("keeps concurrent requests' transactions apart: each on its own connection", async () => {
    await reset();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const a = store.transaction(async (tx) => {
      await tx.insert(store.tables.replayGuard).values(row(1));
      await held;
      throw new Error("request A fails");
    });
    // Request B writes and commits while A is open; A's rollback does not take B's write with it.
    await new Promise((resolve) => setTimeout(resolve, 20));
    await store.db.insert(store.tables.replayGuard).values(row(2));
    release();
    await expect(a).rejects.toThrow("request A fails");
    expect(await committed()).toEqual([2]);
  });

  it("retries a transaction PostgreSQL aborted as a deadlock, and it then commits", async () => {
    await reset();
    await store.db.insert(store.tables.replayGuard).values([row(1), row(2)]);
    let attempts = 0;
    let bothLocked!: () => void;
    let firstLocks = 0;
    const together = new Promise<void>((resolve) => (bothLocked = resolve));
    const lockThenWait = (first: number, second: number) =>
      store.transaction(async (tx) => {
        attempts++;
        await tx.update(store.tables.replayGuard).set({ expiresAt: 1 }).where(eq(store.tables.replayGuard.key, String(first)));
        if (++firstLocks === 2) bothLocked();
        await together;
        await tx.update(store.tables.replayGuard).set({ expiresAt: 1 }).where(eq(store.tables.replayGuard.key, String(second)));
      });
    await Promise.all([lockThenWait(1, 2), lockThenWait(2, 1)]);
    // One of the two was chosen as the deadlock victim and ran again.
    expect(attempts).toBe(3);
  });

  it("claims a replay key once until it expires (hot-path SQL)", async () => {
    expect(await store.hot.claimReplayKey(store.db, "k", 2_000, 1_000)).toBe(true);
    expect(await store.hot.claimReplayKey(store.db, "k", 3_000, 1_500)).toBe(false);
    expect(await store.hot.claimReplayKey(store.db, "k", 4_000, 2_000)).toBe(true);
    expect(await store.hot.deleteExpiredReplayKeys(store.db, 10_000)).toBeGreaterThanOrEqual(1);
  });

  it("lets exactly one of many concurrent claims win, across separate pools (replicas)", async () => {
    const replicas = await Promise.all([1, 2, 3].map(() => openPostgresStore({ url, poolSize: 4, connectTimeoutS: 30, migrate: false })));
    try {
      const t = 1_767_268_800_000;
      await store.pool.query(`
        insert into users (id, email, role, created_at, updated_at) values ('u', 'u@example.com', 'owner', ${t}, ${t});
        insert into mcp_servers (id, owner_id, name, signing_secret_enc, created_at, updated_at) values ('s', 'u', 'S', 'e', ${t}, ${t});
        insert into oauth_clients (id, kind, client_name, redirect_uris, metadata, created_at) values ('c', 'registered', 'C', '[]', '{}', ${t});
        insert into grants (id, user_id, client_id, server_id, scope, created_at, updated_at, source) values ('g', 'u', 'c', 's', 'mcp', ${t}, ${t}, 'consent');
        insert into token_families (id, grant_id, created_at) values ('f', 'g', ${t});
        insert into refresh_tokens (token_hash, family_id, grant_id, client_id, created_at, expires_at) values ('rt', 'f', 'g', 'c', ${t}, ${t + 1000});`);
      const attempts = Array.from({ length: 48 }, (_, i) => {
        const replica = replicas[i % replicas.length]!;
        // Each in its own transaction, as the refresh grant runs it.
        return replica.transaction((tx) => replica.hot.claimRotation(tx, "rt", `next-${i}`, t + i));
      });
      const rotations = await Promise.all(attempts);
      expect(rotations.filter(Boolean)).toHaveLength(1);
      const claims = await Promise.all(
        Array.from({ length: 48 }, (_, i) => replicas[i % 3]!.hot.claimReplayKey(replicas[i % 3]!.db, "jti", t + 60_000, t)),
      );
      expect(claims.filter(Boolean)).toHaveLength(1);
    } finally {
      await Promise.all(replicas.map((r) => r.close()));
    }
  });

  it("answers readiness questions: migrations applied, ping", async () => {
    expect((await store.appliedMigrations()).length).toBeGreaterThan(0);
    expect(await store.ping()).toBe(true);
  });

  it("/readyz: 503 while the database refuses connections, 200 again once it accepts them (no restart)", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-ready-"));
    const ctx = createAppContext(parseConfig({ PUBLIC_URL: "http://localhost:3000", TOOLGATE_DATA_DIR: dir }), {
      store,
      secrets: { sessionSecret: "s".repeat(43), dataKey: randomBytes(32) },
      logger: createLogger("silent"),
    });
    const ready = async () => {
      const answer = await readinessEndpoint({} as never, ctx, {} as never);
      return (answer as { status: number }).status;
    };
    const database = new URL(url).pathname.slice(1);
    try {
      expect(await ready()).toBe(200);
      await withAdminClient(async (admin) => {
        await admin.query(`alter database ${database} with allow_connections false`);
        await admin.query("select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()", [database]);
      });
      expect(await ready()).toBe(503);
      await withAdminClient((admin) => admin.query(`alter database ${database} with allow_connections true`));
      expect(await ready()).toBe(200);
    } finally {
      await withAdminClient((admin) => admin.query(`alter database ${database} with allow_connections true`));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
