import fs from "node:fs";
import { importAppModules } from "./lib/app-modules.mjs";
const m = await importAppModules(`export { parseOpenApiDocument } from "~/servers/openapi-import.server"; export { ajv } from "~/servers/json-schema.server";`, { name: "zz" });
const doc = await m.parseOpenApiDocument(fs.readFileSync(process.argv[2], "utf8"), { sourceUrl: "https://docs.example/spec.yaml" });
console.log(doc.title, doc.specVersion, doc.servers);
for (const op of doc.operations) {
  console.log("---", op.key, "→", op.toolName, op.refused ?? "");
  if (op.tool) console.log(JSON.stringify({ ...op.tool, description: op.tool.description.slice(0, 80) }).slice(0, 1500));
}
