// Entry point of the single executable (docs/decisions/010-single-executable.md).
// scripts/build-binary.mjs bundles this file, the Remix server build and every dependency into one
// CommonJS file and embeds the SQLite addon, the migrations and public/ as assets. At start the
// assets are written once to a folder named after their hash, then the ordinary CLI runs.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import sea from "node:sea";

/** Where the extracted assets live: inside the data folder, which only this service may write. */
function runtimeRoot() {
  if (process.env.TOOLGATE_RUNTIME_DIR) return path.resolve(process.env.TOOLGATE_RUNTIME_DIR);
  return path.join(path.resolve(process.env.TOOLGATE_DATA_DIR || "./data"), ".runtime");
}

/** Writes the embedded files to <runtime>/<hash> unless a complete copy is already there. */
function extractAssets(manifest) {
  const base = runtimeRoot();
  const dir = path.join(base, manifest.hash);
  const marker = path.join(dir, ".complete");
  if (fs.existsSync(marker) && !manifest.files.every((key) => fs.existsSync(path.join(dir, key)))) {
    // Someone removed files from the extracted copy: extract it again.
    fs.rmSync(dir, { recursive: true, force: true });
  }
  if (!fs.existsSync(marker)) {
    fs.mkdirSync(base, { recursive: true, mode: 0o700 });
    const tmp = fs.mkdtempSync(path.join(base, `.extract-${manifest.hash.slice(0, 8)}-`));
    for (const key of manifest.files) {
      const target = path.join(tmp, key);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, new Uint8Array(sea.getAsset(key)));
    }
    fs.writeFileSync(path.join(tmp, ".complete"), manifest.version + "\n");
    try {
      fs.renameSync(tmp, dir);
    } catch (error) {
      // Another process (a CLI command next to the running server) extracted the same version first.
      fs.rmSync(tmp, { recursive: true, force: true });
      if (!fs.existsSync(marker)) throw error;
    }
  }
  removeStaleVersions(base, manifest.hash);
  return dir;
}

/**
 * Old versions' folders are removed once unused for a week. Not at once: during an upgrade the old
 * server may still serve its public/ files while the new binary runs a command.
 */
function removeStaleVersions(base, keep) {
  const now = new Date();
  try {
    fs.utimesSync(path.join(base, keep), now, now);
    for (const name of fs.readdirSync(base)) {
      if (name === keep) continue;
      const full = path.join(base, name);
      const age = now.getTime() - fs.statSync(full).mtimeMs;
      if (age > 7 * 24 * 3600_000) fs.rmSync(full, { recursive: true, force: true });
    }
  } catch {
    // Best effort: a leftover folder costs disk space, nothing else.
  }
}

function needsRuntime(argv) {
  // Help needs neither the database nor public/, so it writes nothing to disk.
  return !(argv.length === 0 || argv.includes("--help") || argv.includes("-h") || argv[0] === "help");
}

async function main() {
  const argv = process.argv.slice(2);
  const manifest = JSON.parse(sea.getAsset("manifest.json", "utf8"));
  let root = path.dirname(process.execPath);
  if (needsRuntime(argv)) {
    root = extractAssets(manifest);
    const addon = path.join(root, "addon", "better_sqlite3.node");
    process.env.TOOLGATE_SQLITE_BINDING = addon;
    process.env.TOOLGATE_MIGRATIONS_DIR = path.join(root, "drizzle");
    process.env.TOOLGATE_POSTGRES_MIGRATIONS_DIR = path.join(root, "drizzle-postgres");
    // Inside a single executable `require` only loads built-in modules. better-sqlite3 loads a
    // string `nativeBinding` through `__non_webpack_require__` when one exists (its bundler hook),
    // so a file-system require is provided for the extracted addon.
    globalThis.__non_webpack_require__ = createRequire(addon);
  }
  const build = await import("../build/index.js");
  return build.entry.module.runCli(argv, { build, root });
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`${error && error.stack ? error.stack : String(error)}\n`);
    process.exitCode = 1;
  },
);
