/**
 * store.groupTransaction (app/db/sqlite-store.server.ts): the writes of one event-loop turn share
 * one COMMIT; each caller hears of its result only once it is durable; one caller's failure never
 * takes another's writes with it, and a failed COMMIT fails everyone waiting on it. Checked on a
 * real SQLite file, with a second connection to see what is committed.
 */
import path from "node:path";
import Database from "better-sqlite3";
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DATABASE_FILE } from "~/context.server";
import type { Tx } from "~/db/store.server";
import { createTestContext, type TestContext } from "../helpers/context";

const probe = sqliteTable("group_probe", { id: integer("id").primaryKey(), owner: text("owner") });

describe("groupTransaction", () => {
  let ctx: TestContext;
  let reader: Database.Database;

  beforeEach(async () => {
    ctx = createTestContext();
    ctx.store.sqlite.exec("create table group_probe (id integer primary key, owner text references users(id))");
    reader = new Database(path.join(ctx.config.dataDir, DATABASE_FILE), { readonly: true });
  });
  afterEach(async () => {
    reader.close();
    ctx.cleanup();
  });

  const insert = async (tx: Tx, id: number) => {
    await tx.insert(probe).values({ id });
  };
  const committed = () => reader.prepare("select id from group_probe order by id").pluck().all() as number[];

  it("commits the writes of one turn together, and answers each caller after the commit", async () => {
    const answered: number[] = [];
    const all = [1, 2, 3].map((id) =>
      ctx.store
        .groupTransaction(async (tx) => {
          await insert(tx, id);
          // The work runs at once, but nothing of the group is committed while it runs.
          expect(committed()).toEqual([]);
          expect(ctx.store.sqlite.inTransaction).toBe(true);
          return id * 10;
        })
        .then((value) => {
          // Durable before anyone is told.
          expect(committed()).toContain(id);
          answered.push(value);
          return value;
        }),
    );
    expect(await Promise.all(all)).toEqual([10, 20, 30]);
    expect(answered).toEqual([10, 20, 30]);
    expect(committed()).toEqual([1, 2, 3]);
    expect(ctx.store.sqlite.inTransaction).toBe(false);
  });

  it("rolls back only the work that throws, and rejects only its caller", async () => {
    const ok = ctx.store.groupTransaction((tx) => insert(tx, 1));
    const failing = ctx.store.groupTransaction(async (tx) => {
      await insert(tx, 2);
      throw new Error("refused");
    });
    const later = ctx.store.groupTransaction((tx) => insert(tx, 3));
    await expect(failing).rejects.toThrow("refused");
    await Promise.all([ok, later]);
    expect(committed()).toEqual([1, 3]);
  });

  it("a COMMIT that fails rejects every caller of the group and writes nothing", async () => {
    const first = ctx.store.groupTransaction((tx) => insert(tx, 1));
    // Foreign keys checked at COMMIT: this row makes the whole group's COMMIT fail.
    const breaking = ctx.store.groupTransaction(async (tx) => {
      ctx.store.sqlite.pragma("defer_foreign_keys = ON");
      await tx.insert(probe).values({ id: 2, owner: "no-such-user" });
    });
    const results = await Promise.allSettled([first, breaking]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    expect(String((results[0] as PromiseRejectedResult).reason)).toMatch(/FOREIGN KEY/);
    expect(committed()).toEqual([]);
    expect(ctx.store.sqlite.inTransaction).toBe(false);
    // The connection is usable for the next group.
    await ctx.store.groupTransaction((tx) => insert(tx, 4));
    expect(committed()).toEqual([4]);
  });

  it("given the caller's open transaction, is a savepoint of it", async () => {
    await ctx.store.transaction(async (tx) => {
      await insert(tx, 1);
      await ctx.store.groupTransaction((inner) => insert(inner, 2), tx);
      expect(committed()).toEqual([]);
    });
    expect(committed()).toEqual([1, 2]);
  });

  it("groups of later turns are separate transactions", async () => {
    await ctx.store.groupTransaction((tx) => insert(tx, 1));
    expect(committed()).toEqual([1]);
    const second = ctx.store.groupTransaction((tx) => insert(tx, 2));
    expect(committed()).toEqual([1]);
    await second;
    expect(committed()).toEqual([1, 2]);
  });
});
