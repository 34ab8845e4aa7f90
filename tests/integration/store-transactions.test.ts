/**
 * The SQLite store's transactions (app/db/sqlite-store.server.ts) with async callbacks: one at a
 * time, nested calls as savepoints, and no statement of another request ever running inside an
 * open transaction (it waits for the transaction to end). Checked on a real SQLite file, with a
 * second connection to see what is committed.
 */
import path from "node:path";
import Database from "better-sqlite3";
import { integer, sqliteTable } from "drizzle-orm/sqlite-core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DATABASE_FILE } from "~/context.server";
import type { Tx } from "~/db/store.server";
import { TransactionHandleError } from "~/db/transaction-check.server";
import { createTestContext, type TestContext } from "../helpers/context";

const probe = sqliteTable("store_probe", { id: integer("id").primaryKey() });

/** The better-sqlite3 connection under the test context's store (this file runs on SQLite only). */
function sqliteOf(ctx: TestContext): Database.Database {
  if (ctx.store.dialect !== "sqlite") throw new Error("store-transactions.test.ts tests the SQLite store");
  return ctx.store.sqlite;
}

/** Lets every other pending continuation (another request's) run. */
const otherRequestsRun = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("store.transaction on SQLite", () => {
  let ctx: TestContext;
  let reader: Database.Database;

  beforeEach(async () => {
    ctx = createTestContext();
    sqliteOf(ctx).exec("create table store_probe (id integer primary key)");
    reader = new Database(path.join(ctx.config.dataDir, DATABASE_FILE), { readonly: true });
  });
  afterEach(async () => {
    reader.close();
    ctx.cleanup();
  });

  const committed = () => reader.prepare("select id from store_probe order by id").pluck().all() as number[];

  it("keeps another request's write out of a transaction that rolls back", async () => {
    const steps: string[] = [];
    // Request A: a transaction that writes, waits (as a request waiting on I/O would), then fails.
    const a = ctx.store.transaction(async (tx) => {
      await tx.insert(probe).values({ id: 1 });
      steps.push("a wrote");
      await otherRequestsRun();
      await otherRequestsRun();
      steps.push("a fails");
      throw new Error("request A fails");
    });
    // Request B: a plain write made while A's transaction is open.
    const b = (async () => {
      await otherRequestsRun();
      steps.push("b writes");
      await ctx.store.db.insert(probe).values({ id: 2 });
      steps.push("b wrote");
    })();
    await expect(a).rejects.toThrow("request A fails");
    await b;
    // B was made while A was open, and ran only after A ended: it survives A's rollback.
    expect(steps).toEqual(["a wrote", "b writes", "a fails", "b wrote"]);
    expect(committed()).toEqual([2]);
    expect(sqliteOf(ctx).inTransaction).toBe(false);
  });

  it("keeps another request's hot-path write out of an open transaction too", async () => {
    const a = ctx.store.transaction(async (tx) => {
      await tx.insert(probe).values({ id: 1 });
      await otherRequestsRun();
      throw new Error("rolled back");
    });
    const b = otherRequestsRun().then(() => ctx.store.hot.claimReplayKey(ctx.db, "k", ctx.now() + 60_000, ctx.now()));
    await expect(a).rejects.toThrow("rolled back");
    expect(await b).toBe(true);
    expect(reader.prepare("select count(*) from replay_guard where key = 'k'").pluck().get()).toBe(1);
    expect(committed()).toEqual([]);
  });

  it("runs transactions one at a time, each seeing the one before committed", async () => {
    const order: string[] = [];
    const run = (id: number) =>
      ctx.store.transaction(async (tx) => {
        order.push(`begin ${id}`);
        const before = await tx.select().from(probe);
        await otherRequestsRun();
        await tx.insert(probe).values({ id });
        order.push(`end ${id}`);
        return before.length;
      });
    expect(await Promise.all([run(1), run(2), run(3)])).toEqual([0, 1, 2]);
    expect(order).toEqual(["begin 1", "end 1", "begin 2", "end 2", "begin 3", "end 3"]);
    expect(committed()).toEqual([1, 2, 3]);
  });

  it("commits on success, and a nested call is a savepoint that rolls back alone", async () => {
    await ctx.store.transaction(async (tx) => {
      await tx.insert(probe).values({ id: 1 });
      await expect(
        ctx.store.transaction(async (inner) => {
          await inner.insert(probe).values({ id: 2 });
          throw new Error("inner fails");
        }, tx),
      ).rejects.toThrow("inner fails");
      await ctx.store.transaction(async (inner) => {
        await inner.insert(probe).values({ id: 3 });
      }, tx);
      // Not committed yet: the outer transaction is still open.
      expect(committed()).toEqual([]);
    });
    expect(committed()).toEqual([1, 3]);
  });

  it("refuses (under the test suite's check) the store's own handle inside a transaction's callback", async () => {
    // The store's own handle belongs to no transaction: made inside a callback, its statement would
    // wait for the very transaction it was meant to join. The check names the mistake instead.
    for (const misuse of [
      () => ctx.db.insert(probe).values({ id: 9 }),
      () => ctx.store.hot.claimReplayKey(ctx.db, "inside", ctx.now() + 60_000, ctx.now()),
      () => ctx.store.transaction(async () => {}),
      () => ctx.store.groupTransaction(async () => {}),
    ]) {
      await expect(
        ctx.store.transaction(async (tx) => {
          await tx.insert(probe).values({ id: 1 });
          await misuse();
        }),
      ).rejects.toThrow(TransactionHandleError);
    }
    expect(committed()).toEqual([]);
    expect(sqliteOf(ctx).inTransaction).toBe(false);
  });

  it("refuses a statement on the handle of a transaction that has ended", async () => {
    let kept: Tx | undefined;
    await ctx.store.transaction(async (tx) => {
      kept = tx;
      await tx.insert(probe).values({ id: 1 });
    });
    await expect(kept!.insert(probe).values({ id: 2 })).rejects.toThrow("the transaction is no longer open");
    await expect(ctx.store.hot.claimReplayKey(kept!, "late", ctx.now() + 60_000, ctx.now())).rejects.toThrow("no longer open");
    expect(committed()).toEqual([1]);
  });

  it("rolls back everything when the callback throws", async () => {
    await expect(
      ctx.store.transaction(async (tx) => {
        await tx.insert(probe).values({ id: 1 });
        await tx.insert(probe).values({ id: 1 });
      }),
    ).rejects.toMatchObject({ code: "SQLITE_CONSTRAINT_PRIMARYKEY" });
    expect(committed()).toEqual([]);
    expect(sqliteOf(ctx).inTransaction).toBe(false);
  });
});

describe("store.groupTransaction on SQLite", () => {
  let ctx: TestContext;
  let reader: Database.Database;

  beforeEach(async () => {
    ctx = createTestContext();
    sqliteOf(ctx).exec("create table store_probe (id integer primary key)");
    reader = new Database(path.join(ctx.config.dataDir, DATABASE_FILE), { readonly: true });
  });
  afterEach(async () => {
    reader.close();
    ctx.cleanup();
  });

  const committed = () => reader.prepare("select id from store_probe order by id").pluck().all() as number[];

  it("shares one COMMIT between the callers of one turn, answers each after it, and rolls back a failing one alone", async () => {
    const answered: number[] = [];
    const ok = [1, 2, 3].map((id) =>
      ctx.store
        .groupTransaction(async (tx) => {
          await tx.insert(probe).values({ id });
          return id;
        })
        .then((id) => {
          expect(committed()).toContain(id);
          answered.push(id);
        }),
    );
    const failing = ctx.store.groupTransaction(async (tx) => {
      await tx.insert(probe).values({ id: 9 });
      throw new Error("this one fails");
    });
    await expect(failing).rejects.toThrow("this one fails");
    await Promise.all(ok);
    expect(answered).toEqual([1, 2, 3]);
    expect(committed()).toEqual([1, 2, 3]);
  });

  it("never opens while a store transaction is open, and a store transaction waits for an open group", async () => {
    const order: string[] = [];
    const t = ctx.store.transaction(async (tx) => {
      order.push("transaction begins");
      await tx.insert(probe).values({ id: 1 });
      await otherRequestsRun();
      await otherRequestsRun();
      order.push("transaction fails");
      throw new Error("rolled back");
    });
    const g = ctx.store.groupTransaction(async (tx) => {
      order.push("group member runs");
      await tx.insert(probe).values({ id: 2 });
    });
    await expect(t).rejects.toThrow("rolled back");
    await g;
    expect(order).toEqual(["transaction begins", "transaction fails", "group member runs"]);
    expect(committed()).toEqual([2]);

    const g2 = ctx.store.groupTransaction(async (tx) => {
      await tx.insert(probe).values({ id: 3 });
    });
    const t2 = ctx.store.transaction(async (tx) => {
      // The group committed before this transaction began.
      expect(committed()).toContain(3);
      await tx.insert(probe).values({ id: 4 });
    });
    await Promise.all([g2, t2]);
    expect(committed()).toEqual([2, 3, 4]);
  });
});
