/**
 * groupTransaction (app/db/statements.server.ts): the writes of one event-loop turn share one
 * COMMIT; each caller hears of its result only once it is durable; one caller's failure never takes
 * another's writes with it, and a failed COMMIT fails everyone waiting on it. Checked on a real
 * SQLite file, with a second connection to see what is committed.
 */
import path from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DATABASE_FILE } from "~/context.server";
import { groupTransaction, immediateTransaction, statement } from "~/db/statements.server";
import { createTestContext, type TestContext } from "../helpers/context";

describe("groupTransaction", () => {
  let ctx: TestContext;
  let reader: Database.Database;

  beforeEach(() => {
    ctx = createTestContext();
    ctx.db.$client.exec("create table group_probe (id integer primary key, owner text references users(id))");
    reader = new Database(path.join(ctx.config.dataDir, DATABASE_FILE), { readonly: true });
  });
  afterEach(() => {
    reader.close();
    ctx.cleanup();
  });

  const insert = (id: number) => statement(ctx.db, "insert into group_probe (id) values (?)").run(id);
  const committed = () => (reader.prepare("select id from group_probe order by id").pluck().all() as number[]);

  it("commits the writes of one turn together, and answers each caller after the commit", async () => {
    const answered: number[] = [];
    const all = [1, 2, 3].map((id) =>
      groupTransaction(ctx.db, () => {
        insert(id);
        return id * 10;
      }).then((value) => {
        // Durable before anyone is told.
        expect(committed()).toContain(id);
        answered.push(value);
        return value;
      }),
    );
    // The work ran at once (the caller's own connection sees it), but nothing is committed yet.
    expect(statement(ctx.db, "select count(*) as n from group_probe").get()).toEqual({ n: 3 });
    expect(committed()).toEqual([]);
    expect(ctx.db.$client.inTransaction).toBe(true);
    expect(await Promise.all(all)).toEqual([10, 20, 30]);
    expect(answered).toEqual([10, 20, 30]);
    expect(committed()).toEqual([1, 2, 3]);
    expect(ctx.db.$client.inTransaction).toBe(false);
  });

  it("rolls back only the work that throws, and rejects only its caller", async () => {
    const ok = groupTransaction(ctx.db, () => insert(1));
    const failing = groupTransaction(ctx.db, () => {
      insert(2);
      throw new Error("refused");
    });
    const later = groupTransaction(ctx.db, () => insert(3));
    await expect(failing).rejects.toThrow("refused");
    await Promise.all([ok, later]);
    expect(committed()).toEqual([1, 3]);
  });

  it("a COMMIT that fails rejects every caller of the group and writes nothing", async () => {
    const first = groupTransaction(ctx.db, () => insert(1));
    // Foreign keys checked at COMMIT: this row makes the whole group's COMMIT fail.
    const breaking = groupTransaction(ctx.db, () => {
      ctx.db.$client.pragma("defer_foreign_keys = ON");
      statement(ctx.db, "insert into group_probe (id, owner) values (?, ?)").run(2, "no-such-user");
    });
    const results = await Promise.allSettled([first, breaking]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    expect(String((results[0] as PromiseRejectedResult).reason)).toMatch(/FOREIGN KEY/);
    expect(committed()).toEqual([]);
    expect(ctx.db.$client.inTransaction).toBe(false);
    // The connection is usable for the next group.
    await groupTransaction(ctx.db, () => insert(4));
    expect(committed()).toEqual([4]);
  });

  it("inside a transaction the caller already holds, is a savepoint of it", async () => {
    let inner: Promise<unknown> | undefined;
    immediateTransaction(ctx.db, () => {
      insert(1);
      inner = groupTransaction(ctx.db, () => insert(2));
    });
    await inner;
    expect(committed()).toEqual([1, 2]);
  });

  it("groups of later turns are separate transactions", async () => {
    await groupTransaction(ctx.db, () => insert(1));
    expect(committed()).toEqual([1]);
    const second = groupTransaction(ctx.db, () => insert(2));
    expect(committed()).toEqual([1]);
    await second;
    expect(committed()).toEqual([1, 2]);
  });
});
