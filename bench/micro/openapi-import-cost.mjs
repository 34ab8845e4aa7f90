// Micro-benchmark: how long parsing a large real OpenAPI document into tool definitions takes
// (validate, upgrade, dereference, convert every operation), first in a fresh process (what the CLI
// and the first web import pay) and then warm. Usage: node bench/micro/openapi-import-cost.mjs [FILE]
import fs from "node:fs";
import path from "node:path";
import { ROOT } from "../lib/app.mjs";
import { importAppModules } from "../lib/app-modules.mjs";

const file = path.resolve(process.argv[2] ?? path.join(ROOT, "tests/fixtures/openapi/github-api-trimmed.json"));
const app = await importAppModules(`export { parseOpenApiDocument } from "~/servers/openapi-import.server";`, { src: ROOT, name: "openapi-import" });
const text = fs.readFileSync(file, "utf8");
for (const label of ["first (cold)", "second (warm)", "third (warm)"]) {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const parsed = await app.parseOpenApiDocument(text);
  const ms = performance.now() - started;
  const used = process.cpuUsage(cpu);
  const tools = parsed.operations.filter((o) => o.tool).length;
  console.log(`${label}: ${ms.toFixed(0)} ms wall, ${((used.user + used.system) / 1000).toFixed(0)} ms CPU; ${parsed.operations.length} operations, ${tools} tools (${path.basename(file)}, ${(text.length / 1e6).toFixed(1)} MB)`);
}
