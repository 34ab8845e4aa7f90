/**
 * The PostgreSQL store (app/db/postgres-store.server.ts, hot-postgres.server.ts) on a real
 * database: transactions on their own connection, savepoints for nested calls, statements made
 * inside a transaction's callback belonging to it, retries of deadlocked transactions, the
 * hand-written hot-path SQL, readiness, and a database outage the store recovers from.
 */
import { sql } from "drizzle-orm";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPostgresStore } from "~/db/postgres-store.server";
import type { PostgresStore } from "~/db/store.server";
import { createTestDatabase } from "../helpers/postgres";

describe("PostgreSQL store", () => {
  let url: string;
  let store: PostgresStore;
  let reader: pg.Pool;

  beforeAll(async () => {
    url = await createTestDatabase();
    store = await openPostgresStore({ url, poolSize: 4, connectTimeoutS: 30 });
    await store.pool.query("create table store_probe (id integer primary key)");
    reader = new pg.Pool({ connectionString: url, max: 1 });
  });
  afterAll(async () => {
    await reader?.end();
    await store?.close();
  });

  const committed = async () =>
    (await reader.query<{ id: number }>("select id from store_probe order by id")).rows.map((r) => r.id);
  const reset = () => store.pool.query("delete from store_probe");

  it("commits when the callback resolves; rolls back everything when it rejects", async () => {
    await reset();
    await store.transaction(async (tx) => {
      await tx.execute(sql`insert into store_probe (id) values (1)`);
      expect(await committed()).toEqual([]);
    });
    expect(await committed()).toEqual([1]);
    await expect(
      store.transaction(async (tx) => {
        await tx.execute(sql`insert into store_probe (id) values (2)`);
        await tx.execute(sql`insert into store_probe (id) values (2)`);
      }),
    ).rejects.toMatchObject({ cause: { code: "23505" } });
    expect(await committed()).toEqual([1]);
  });

  it("runs ctx.store.db and hot-path calls made inside the callback in the transaction", async () => {
    await reset();
    await expect(
      store.transaction(async () => {
        await store.db.execute(sql`insert into store_probe (id) values (10)`);
        expect(await store.hot.claimReplayKey("inside", 2_000, 1_000)).toBe(true);
        throw new Error("roll back");
      }),
    ).rejects.toThrow("roll back");
    expect(await committed()).toEqual([]);
    // The claim went with the rollback, so the key is free again.
    expect(await store.hot.claimReplayKey("inside", 2_000, 1_000)).toBe(true);
  });

  it("makes nested calls savepoints: an inner failure rolls back the inner part only", async () => {
    await reset();
    await store.transaction(async (tx) => {
      await tx.execute(sql`insert into store_probe (id) values (1)`);
      await expect(
        store.transaction(async (inner) => {
          await inner.execute(sql`insert into store_probe (id) values (2)`);
          throw new Error("inner fails");
        }),
      ).rejects.toThrow("inner fails");
      // Side by side nested calls take turns (savepoints nest as a stack).
      await Promise.all([
        store.transaction((inner) => inner.execute(sql`insert into store_probe (id) values (3)`)),
        store.transaction((inner) => inner.execute(sql`insert into store_probe (id) values (4)`)),
      ]);
    });
    expect(await committed()).toEqual([1, 3, 4]);
  });

  it("keeps concurrent requests' transactions apart: each on its own connection", async () => {
    await reset();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const a = store.transaction(async (tx) => {
      await tx.execute(sql`insert into store_probe (id) values (1)`);
      await held;
      throw new Error("request A fails");
    });
    // Request B writes and commits while A is open; A's rollback does not take B's write with it.
    await new Promise((resolve) => setTimeout(resolve, 20));
    await store.db.execute(sql`insert into store_probe (id) values (2)`);
    release();
    await expect(a).rejects.toThrow("request A fails");
    expect(await committed()).toEqual([2]);
  });

  it("retries a transaction PostgreSQL aborted as a deadlock, and it then commits", async () => {
    await reset();
    await store.pool.query("insert into store_probe (id) values (1), (2)");
    let attempts = 0;
    let bothLocked!: () => void;
    let firstLocks = 0;
    const together = new Promise<void>((resolve) => (bothLocked = resolve));
    const lockThenWait = (first: number, second: number) =>
      store.transaction(async (tx) => {
        attempts++;
        await tx.execute(sql`update store_probe set id = id where id = ${first}`);
        if (++firstLocks === 2) bothLocked();
        await together;
        await tx.execute(sql`update store_probe set id = id where id = ${second}`);
      });
    await Promise.all([lockThenWait(1, 2), lockThenWait(2, 1)]);
    // One of the two was chosen as the deadlock victim and ran again.
    expect(attempts).toBe(3);
  });

  it("claims a replay key once until it expires (hot-path SQL)", async () => {
    expect(await store.hot.claimReplayKey("k", 2_000, 1_000)).toBe(true);
    expect(await store.hot.claimReplayKey("k", 3_000, 1_500)).toBe(false);
    expect(await store.hot.claimReplayKey("k", 4_000, 2_000)).toBe(true);
    expect(await store.hot.deleteExpiredReplayKeys(10_000)).toBeGreaterThanOrEqual(1);
  });

  it("answers readiness questions: migrations applied, ping", async () => {
    expect((await store.appliedMigrations()).length).toBeGreaterThan(0);
    expect(await store.ping()).toBe(true);
  });
});
