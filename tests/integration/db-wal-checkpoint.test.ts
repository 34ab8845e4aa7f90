/**
 * The WAL checkpoint threshold (docs/decisions/022-wal-checkpoint-threshold.md): every connection
 * checkpoints at WAL_AUTOCHECKPOINT_PAGES, the WAL stays bounded under sustained writes, and
 * closing the database still checkpoints and removes it.
 */
import fs from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WAL_AUTOCHECKPOINT_PAGES } from "~/db/client.server";
import { createTestContext, type TestContext } from "../helpers/context";

let ctx: TestContext;
let file: string;
beforeEach(async () => {
  ctx = createTestContext();
  file = ctx.store.sqlite.name;
});
afterEach(() => ctx.cleanup());

const walBytes = () => (fs.existsSync(`${file}-wal`) ? fs.statSync(`${file}-wal`).size : 0);

describe("WAL checkpoints", () => {
  it("checkpoints at the configured threshold, in WAL mode", async () => {
    expect(ctx.store.sqlite.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(ctx.store.sqlite.pragma("wal_autocheckpoint", { simple: true })).toBe(WAL_AUTOCHECKPOINT_PAGES);
  });

  it("keeps the WAL bounded under many small commits, and close() checkpoints and removes it", async () => {
    const pageSize = ctx.store.sqlite.pragma("page_size", { simple: true }) as number;
    const insert = ctx.store.sqlite.prepare("insert into audit_events (at, kind, detail) values (?, 'test.write', ?)");
    const detail = JSON.stringify({ filler: "x".repeat(pageSize) });
    let largest = 0;
    // About three pages per commit: well past the threshold several times over.
    for (let i = 0; i < 3 * WAL_AUTOCHECKPOINT_PAGES; i++) {
      insert.run(i, detail);
      if (i % 100 === 0) largest = Math.max(largest, walBytes());
    }
    largest = Math.max(largest, walBytes());
    const frame = pageSize + 24;
    expect(largest).toBeGreaterThan(1000 * frame);
    expect(largest).toBeLessThan((WAL_AUTOCHECKPOINT_PAGES + 100) * frame + 32);
    ctx.store.sqlite.close();
    expect(fs.existsSync(`${file}-wal`)).toBe(false);
  });
});
