#!/usr/bin/env node
// The Toolgate command line: `toolgate serve`, `toolgate user add`, ... (see `toolgate --help`).
// It runs the compiled app bundle (npm run build), which holds the server and every command.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const buildFile = path.join(root, "build", "index.js");
if (!fs.existsSync(buildFile)) {
  process.stderr.write("Toolgate is not built yet. Run `npm run build` first.\n");
  process.exit(1);
}
// Production unless told otherwise (`remix dev` sets development): React and the router then use
// their production builds, which are faster and print no development warnings.
process.env.NODE_ENV ??= "production";
const build = await import(pathToFileURL(buildFile).href);
const code = await build.entry.module.runCli(process.argv.slice(2), { build, root });
process.exitCode = code;
