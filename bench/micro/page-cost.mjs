// Micro-benchmark: CPU time per request of two Remix pages of the built app, called in-process
// through Remix's request handler with the app's load context (no HTTP server, no Node bridge):
// the Authorize Application page (signed in, rotating over pending requests) and /sign-in.
// Usage: npm run build && NODE_ENV=production node bench/micro/page-cost.mjs [--n N] [--rounds R] [--warmup W]
//          [--only SUBSTRING] [--build FILE]...
// (--build: another build's index.js, e.g. of an older commit built in a copy of the tree. Given
// several times, the builds take turns in the same process, round after round, so a busy machine
// slows them alike: before/after A/B/A/B; the medians per build come last. A build from before
// af20011 leaves a 5 s abort timer per page, which fires during the next build's turn: compare
// such builds in separate processes instead.)
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { createRequestHandler } from "@remix-run/node";
import { ROOT } from "../lib/app.mjs";
import { importAppModules } from "../lib/app-modules.mjs";
import { seed } from "../lib/seed.mjs";

const { values } = parseArgs({
  options: {
    n: { type: "string", default: "2000" },
    rounds: { type: "string", default: "2" },
    warmup: { type: "string", default: "500" },
    only: { type: "string" },
    build: { type: "string", multiple: true },
  },
});
const N = Number(values.n);
const buildPaths = (values.build ?? [path.join(ROOT, "build", "index.js")]).map((p) => path.resolve(p));
for (const p of buildPaths) if (!fs.existsSync(p)) throw new Error(`${p}: run npm run build first`);

// The app's own modules for the load context, bundled from source (bench/lib/app-modules.mjs).
const app = await importAppModules(
  `export { parseConfig } from "~/config.server";
   export * as dbClient from "~/db/client.server";
   export { createLogger } from "~/utils/log.server";`,
  { name: "page-context" },
);

function openData(file) {
  const store = app.dbClient.openStore?.(file);
  return store ? { store, db: store.db } : { db: app.dbClient.openDatabase(file) };
}
async function closeData(c) {
  if (c.store) await c.store.close();
  else c.db.$client.close();
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-micro-pages-"));
const publicUrl = "http://127.0.0.1:3999";
const fixture = await seed(dir, { scale: 100, refreshPool: 10, publicUrl, toolEndpointUrl: "http://127.0.0.1:9/tool" });
const ctx = {
  config: app.parseConfig({ PUBLIC_URL: publicUrl, TOOLGATE_DATA_DIR: dir, TOOLGATE_LOG_LEVEL: "silent" }),
  secrets: fixture.secrets,
  // The store where the tree has one (docs/decisions/051-async-store.md), else the synchronous handle.
  ...openData(path.join(dir, "toolgate.db")),
  logger: app.createLogger("silent"),
  now: Date.now,
};
const handlers = [];
for (const p of buildPaths) handlers.push(createRequestHandler(await import(p), "production"));

async function call(handle, pathAndQuery, headers) {
  const response = await handle(new Request(new URL(pathAndQuery, publicUrl), { headers }), {
    ctx,
    cspNonce: "bench",
    clientAddress: "127.0.0.1",
    requestId: "bench",
  });
  await response.text();
  return response.status;
}

const results = new Map();
async function time(label, makeRequest) {
  if (values.only && !label.includes(values.only)) return;
  for (let i = 0; i < Number(values.warmup); i++) await makeRequest();
  const c0 = process.cpuUsage();
  for (let i = 0; i < N; i++) {
    const status = await makeRequest();
    if (status !== 200) throw new Error(`${label}: status ${status}`);
  }
  const c = process.cpuUsage(c0);
  const us = (c.user + c.system) / N;
  results.set(label, [...(results.get(label) ?? []), us]);
  console.log(`${label.padEnd(50)} ${us.toFixed(0).padStart(6)} µs CPU`);
}

let i = 0;
const ids = fixture.authRequestIds;
const name = (b) => (buildPaths.length > 1 ? ` [${b}]` : "");
console.log(`in-process Remix pages, ${N} sequential requests each after ${values.warmup}, node ${process.version}`);
buildPaths.forEach((p, b) => console.log(`build ${b}: ${p}`));
for (let round = 0; round < Number(values.rounds); round++) {
  for (let b = 0; b < handlers.length; b++) {
    const handle = handlers[b];
    await time(`GET /authorize?request=<id> (signed in)${name(b)}`, () =>
      call(handle, `/authorize?request=${encodeURIComponent(ids[i++ % ids.length])}`, { cookie: fixture.sessionCookie, accept: "text/html" }),
    );
    await time(`GET /sign-in${name(b)}`, () => call(handle, "/sign-in", { accept: "text/html" }));
  }
}
if (Number(values.rounds) > 1) {
  console.log("median over the rounds:");
  for (const [label, list] of results) {
    const sorted = [...list].sort((a, b) => a - b);
    console.log(`${label.padEnd(50)} ${sorted[Math.floor(sorted.length / 2)].toFixed(0).padStart(6)} µs CPU  (${list.map((x) => x.toFixed(0)).join(", ")})`);
  }
}
await closeData(ctx);
fs.rmSync(dir, { recursive: true, force: true });
