// One measurement: an autocannon warm-up (discarded), then the measured run, with the CPU time the
// target process and the whole machine spent meanwhile (so other load on the machine is visible).
import autocannon from "autocannon";
import { cpuSeconds, machineBusySeconds, memoryMiB } from "./proc.mjs";

export const CONNECTIONS = 32;

function runOne(options) {
  return new Promise((resolve, reject) => {
    const instance = autocannon(options, (error, result) => (error ? reject(error) : resolve(result)));
    instance.on("error", () => {}); // counted in result.errors
  });
}

/**
 * Several URLs (replicas): the connections are split evenly between them, one autocannon each, run
 * together, and the results merged (p50 weighted by requests; p99 and max the worst of them).
 */
async function run(options) {
  if (!Array.isArray(options.url)) return runOne(options);
  const n = options.url.length;
  const parts = await Promise.all(
    options.url.map((url) =>
      runOne({
        ...options,
        url,
        connections: Math.max(1, Math.round(options.connections / n)),
        ...(options.maxOverallRequests ? { maxOverallRequests: Math.ceil(options.maxOverallRequests / n) } : {}),
      }),
    ),
  );
  const total = parts.reduce((t, r) => t + r.requests.total, 0);
  const statusCodeStats = {};
  for (const r of parts) {
    for (const [code, v] of Object.entries(r.statusCodeStats ?? {})) {
      statusCodeStats[code] = { count: (statusCodeStats[code]?.count ?? 0) + Number(v.count) };
    }
  }
  const sum = (f) => parts.reduce((t, r) => t + f(r), 0);
  return {
    requests: { total },
    duration: Math.max(...parts.map((r) => r.duration)),
    latency: {
      p50: Math.round(sum((r) => r.latency.p50 * r.requests.total) / Math.max(1, total)),
      p99: Math.max(...parts.map((r) => r.latency.p99)),
      max: Math.max(...parts.map((r) => r.latency.max)),
    },
    errors: sum((r) => r.errors),
    timeouts: sum((r) => r.timeouts),
    non2xx: sum((r) => r.non2xx),
    statusCodeStats,
  };
}

/**
 * Runs `options` (autocannon options without url/duration) against `url` (or a list of URLs,
 * connections split between them) and returns the summary.
 * `pid` is the server's process (for CPU per request and RSS); `budget` caps the requests the
 * measured run may send (pools of one-use tokens), `warmupBudget` those of the warm-up.
 * `pid` may be a list (replicas): their CPU is summed. `dbPids` (a function: the database server's
 * processes, whose backends come and go) makes the database's CPU a figure of its own instead of
 * 'other load'.
 */
export async function measure({ url, pid, helperPids = [], dbPids, options, warmupSeconds, seconds, budget, warmupBudget }) {
  const base = { url, connections: CONNECTIONS, timeout: 10, ...options };
  if (warmupSeconds > 0) {
    await run({ ...base, duration: warmupSeconds, ...(warmupBudget ? { maxOverallRequests: Math.max(warmupBudget, CONNECTIONS) } : {}) });
  }
  const selfCpu0 = process.cpuUsage();
  const appCpuNow = () => [].concat(pid).reduce((n, p) => n + (cpuSeconds(p) ?? 0), 0);
  const appCpu0 = appCpuNow();
  const helperCpu = () => helperPids.reduce((n, p) => n + (cpuSeconds(p) ?? 0), 0);
  const helperCpu0 = helperCpu();
  const dbCpu0 = new Map((dbPids?.() ?? []).map((p) => [p, cpuSeconds(p) ?? 0]));
  const busy0 = machineBusySeconds();
  const t0 = performance.now();
  const cap = typeof budget === "function" ? budget() : budget;
  const result = await run({ ...base, duration: seconds, ...(cap ? { maxOverallRequests: Math.max(cap, CONNECTIONS) } : {}) });
  const wall = (performance.now() - t0) / 1000;
  const busy = machineBusySeconds() - busy0;
  const appCpu = appCpuNow() - appCpu0;
  const helpersCpu = helperCpu() - helperCpu0;
  // Backends started during the run count from zero; those that ended during it are lost (pools
  // keep their connections, so that is rare).
  const dbCpu = dbPids ? dbPids().reduce((n, p) => n + Math.max(0, (cpuSeconds(p) ?? 0) - (dbCpu0.get(p) ?? 0)), 0) : 0;
  const self = process.cpuUsage(selfCpu0);
  const selfCpu = (self.user + self.system) / 1e6;
  const completed = result.requests.total;
  const statusCounts = Object.fromEntries(
    Object.entries(result.statusCodeStats ?? {}).map(([code, v]) => [code, Number(v.count)]),
  );
  const ok = Object.entries(statusCounts)
    .filter(([code]) => Number(code) < 400)
    .reduce((n, [, c]) => n + c, 0);
  return {
    rps: completed / result.duration,
    okRps: ok / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max,
    completed,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    statusCounts,
    seconds: result.duration,
    appCpuUsPerReq: completed ? (appCpu / completed) * 1e6 : NaN,
    appCpuCores: appCpu / wall,
    loadGenCpuCores: selfCpu / wall,
    // Busy CPU on the machine not spent by the server, its helpers or the load generator (cores).
    otherCpuCores: Math.max(0, (busy - appCpu - selfCpu - helpersCpu - dbCpu) / wall),
    dbCpuUsPerReq: dbPids && completed ? (dbCpu / completed) * 1e6 : undefined,
    dbCpuCores: dbPids ? dbCpu / wall : undefined,
    helperCpuCores: helpersCpu / wall,
    rssAfter: memoryMiB([].concat(pid)[0]).rss,
  };
}
