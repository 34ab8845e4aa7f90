import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startApp } from "./lib/app.mjs";
import { memoryMiB } from "./lib/proc.mjs";
const n = Number(process.argv[2] ?? 5);
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "zzstart-"));
const out = [];
for (let i = 0; i < n + 1; i++) {
  const app = await startApp({ dataDir, port: 18000 + i });
  await new Promise((r) => setTimeout(r, 1000));
  const m = memoryMiB(app.pid);
  await app.stop();
  if (i > 0) out.push([app.startupMs, m.rss]);
}
const med = (a) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log("startup ms", out.map((o) => o[0].toFixed(0)).join(" "), "median", med(out.map((o) => o[0])).toFixed(0));
console.log("idle RSS MiB", out.map((o) => o[1].toFixed(1)).join(" "), "median", med(out.map((o) => o[1])).toFixed(1));
fs.rmSync(dataDir, { recursive: true, force: true });
