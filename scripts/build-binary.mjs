#!/usr/bin/env node
// Builds dist/toolgate: one executable holding Node, the app, the SQLite addon, the migrations and
// public/ (docs/decisions/010-single-executable.md). Needs `npm run build` first (build:binary does it).
//
//   node scripts/build-binary.mjs [--out FILE] [--no-measure]
//
// Prints the executable's size and the measured time from start to the first /healthz answer.
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createRequire } from "node:module";
import * as esbuild from "esbuild";

const require = createRequire(import.meta.url);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: { out: { type: "string" }, "no-measure": { type: "boolean" } },
});
const out = path.resolve(values.out ?? path.join(ROOT, "dist", "toolgate"));
const work = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-sea-"));
const started = performance.now();
const step = (msg) => process.stdout.write(`[build:binary] ${msg}\n`);

try {
  const serverBuild = path.join(ROOT, "build", "index.js");
  if (!fs.existsSync(serverBuild)) throw new Error("build/index.js is missing: run `npm run build` first");
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));

  // 1. One CommonJS file: SEA runs a single script whose `require` only knows built-in modules.
  // The tool-argument validation workers get Ajv and RE2JS as source text of their own
  // (app/servers/json-schema.server.ts), since they cannot load them from a node_modules either.
  const validatorDeps = await esbuild.build({
    stdin: {
      contents:
        'export { Ajv2020 } from "ajv/dist/2020.js"; export { RE2JS } from "re2js"; export { default as standaloneCode } from "ajv/dist/standalone/index.js";',
      resolveDir: ROOT,
      loader: "js",
    },
    bundle: true,
    write: false,
    platform: "node",
    format: "iife",
    globalName: "__toolgateValidatorDeps",
    target: "node20",
    logLevel: "error",
  });
  const bundle = path.join(work, "toolgate.cjs");
  await esbuild.build({
    entryPoints: [path.join(ROOT, "scripts", "sea-entry.mjs")],
    outfile: bundle,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    keepNames: true,
    logLevel: "error",
    // React and friends pick their production builds; import.meta.url has no meaning in CommonJS.
    define: {
      "process.env.NODE_ENV": '"production"',
      "import.meta.url": "__toolgate_bundle_url",
      __TOOLGATE_VALIDATOR_DEPS__: JSON.stringify(validatorDeps.outputFiles[0].text),
    },
    banner: { js: 'const __toolgate_bundle_url = require("node:url").pathToFileURL(__filename).href;' },
    // The development-only rebuild notifier is never used by the executable.
    external: ["@remix-run/dev"],
  });

  // 2. Assets: the SQLite addon, the migrations of both dialects and public/ (with the client build).
  const assets = { "addon/better_sqlite3.node": path.join(ROOT, "node_modules/better-sqlite3/build/Release/better_sqlite3.node") };
  for (const folder of ["drizzle", "drizzle-postgres", "public"]) {
    for (const file of walk(path.join(ROOT, folder))) assets[path.relative(ROOT, file).split(path.sep).join("/")] = file;
  }
  if (!Object.keys(assets).some((k) => k.startsWith("public/build/"))) {
    throw new Error("public/build is empty: run `npm run build` first");
  }
  const hash = createHash("sha256");
  hash.update(fs.readFileSync(bundle));
  for (const [key, file] of Object.entries(assets).sort()) hash.update(key).update("\0").update(fs.readFileSync(file));
  const manifest = { version: pkg.version, hash: `${pkg.version}-${hash.digest("hex").slice(0, 16)}`, files: Object.keys(assets).sort() };
  const manifestFile = path.join(work, "manifest.json");
  fs.writeFileSync(manifestFile, JSON.stringify(manifest));

  // 3. The SEA blob, then injected into a copy of this Node binary.
  const blob = path.join(work, "sea-prep.blob");
  const seaConfig = path.join(work, "sea-config.json");
  fs.writeFileSync(
    seaConfig,
    JSON.stringify({
      main: bundle,
      output: blob,
      disableExperimentalSEAWarning: true,
      useCodeCache: true,
      assets: { "manifest.json": manifestFile, ...assets },
    }),
  );
  quiet(process.execPath, ["--experimental-sea-config", seaConfig]);
  const tmpOut = path.join(work, "toolgate");
  fs.copyFileSync(process.execPath, tmpOut);
  fs.chmodSync(tmpOut, 0o755);
  // postject in a child process: its ELF parser prints harmless section-name warnings.
  quiet(process.execPath, [
    path.join(path.dirname(require.resolve("postject")), "cli.js"),
    tmpOut,
    "NODE_SEA_BLOB",
    blob,
    "--sentinel-fuse",
    "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2",
  ]);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.copyFileSync(tmpOut, `${out}.tmp`);
  fs.chmodSync(`${out}.tmp`, 0o755);
  fs.renameSync(`${out}.tmp`, out);

  const size = fs.statSync(out).size;
  step(`wrote ${path.relative(process.cwd(), out) || out} (${(size / 1024 / 1024).toFixed(1)} MiB, ${manifest.files.length} embedded files, version ${manifest.hash}) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (!values["no-measure"]) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-sea-run-"));
    try {
      const copy = path.join(dir, "toolgate");
      fs.copyFileSync(out, copy);
      fs.chmodSync(copy, 0o755);
      const first = await timeToFirstResponse(copy, dir);
      const again = await timeToFirstResponse(copy, dir);
      step(`time to first response: ${first} ms on the first start (copied alone into an empty folder), ${again} ms on a restart (polling /healthz; machine load ${os.loadavg()[0].toFixed(1)})`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}

/** Runs a tool, showing its output only when it fails. */
function quiet(command, args) {
  try {
    execFileSync(command, args, { stdio: "pipe" });
  } catch (error) {
    process.stderr.write(`${error.stdout ?? ""}${error.stderr ?? ""}`);
    throw error;
  }
}

function* walk(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(full);
    else if (entry.isFile()) yield full;
  }
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Starts the executable in `dir` and measures until /healthz answers 200, then stops it. */
async function timeToFirstResponse(copy, dir) {
  const port = await freePort();
  let output = "";
  const t0 = performance.now();
  const child = spawn(copy, ["serve"], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", PORT: String(port), HOST: "127.0.0.1", TOOLGATE_LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the executable exited early:\n${output}`);
      try {
        const res = await fetch(`http://127.0.0.1:${port}/healthz`);
        if (res.ok) return Math.round(performance.now() - t0);
      } catch {
        // not listening yet
      }
      if (performance.now() - t0 > 30_000) throw new Error(`the executable did not answer within 30 s:\n${output}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    if (child.exitCode === null) {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
    }
  }
}
