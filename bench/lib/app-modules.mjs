// Imports app modules straight from TypeScript source (app/), for micro-benchmarks that call the
// app in-process: esbuild bundles `source` (import/export lines using the "~/" alias) with packages
// left external, into bench/.tmp, and the bundle is imported and removed.
import fs from "node:fs";
import path from "node:path";
import * as esbuild from "esbuild";
import { ROOT } from "./app.mjs";

/** `src`: another tree's root (e.g. `git archive <commit> app | tar -x -C DIR`) for before/after runs. */
export async function importAppModules(source, { src = ROOT, name = "app-modules" } = {}) {
  const outfile = path.join(ROOT, "bench", ".tmp", `${name}-${process.pid}.mjs`);
  await esbuild.build({
    stdin: { contents: source, resolveDir: src, loader: "ts" },
    bundle: true,
    platform: "node",
    format: "esm",
    packages: "external",
    tsconfig: path.join(ROOT, "tsconfig.json"),
    alias: { "~": path.join(src, "app") },
    outfile,
    logLevel: "error",
  });
  try {
    return await import(`${outfile}?t=${Date.now()}`);
  } finally {
    fs.rmSync(outfile, { force: true });
  }
}
