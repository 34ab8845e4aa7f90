/**
 * The URL clients actually use. The server's PUBLIC_URL is often set only for the server process (a
 * systemd unit, a container), so a CLI run from a shell would print http://localhost:3000/... from
 * its own default. The server records the URL it announces in the data folder when it starts; the
 * other commands print MCP URLs with that one and say so when their own environment disagrees.
 */
import fs from "node:fs";
import path from "node:path";
import type { Config } from "~/config.server";

export const SERVING_FILE = "serving.json";

type Serving = { publicUrl: string; pid: number; startedAt: string };

/** Written by `toolgate serve` once it listens (atomically: a reader never sees half a file). */
export function recordServingUrl(config: Config): void {
  const file = path.join(config.dataDir, SERVING_FILE);
  const body: Serving = { publicUrl: config.publicUrl, pid: process.pid, startedAt: new Date().toISOString() };
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, JSON.stringify(body) + "\n", { mode: 0o644 });
  fs.renameSync(temp, file);
}

function readServing(dataDir: string): Serving | null {
  try {
    const value = JSON.parse(fs.readFileSync(path.join(dataDir, SERVING_FILE), "utf8")) as Partial<Serving>;
    if (typeof value.publicUrl !== "string" || !/^https?:\/\//.test(value.publicUrl)) return null;
    return { publicUrl: value.publicUrl, pid: Number(value.pid) || 0, startedAt: String(value.startedAt ?? "") };
  } catch {
    return null;
  }
}

/**
 * The PUBLIC_URL a non-serving command should print: the one the server recorded, when there is
 * one; otherwise this process's own. `warn` is told when the two disagree.
 */
export function effectivePublicUrl(config: Config, env: Record<string, string | undefined>, warn: (line: string) => void): string {
  const serving = readServing(config.dataDir);
  if (!serving) return config.publicUrl;
  if (serving.publicUrl !== config.publicUrl && env.PUBLIC_URL !== undefined) {
    warn(
      `warning: PUBLIC_URL here is ${config.publicUrl}, but the server using ${config.dataDir} started ` +
        `${serving.startedAt ? `at ${serving.startedAt} ` : ""}with PUBLIC_URL=${serving.publicUrl}, which is what clients are given. ` +
        `MCP URLs below use ${serving.publicUrl}; restart the server to change it.`,
    );
  }
  return serving.publicUrl;
}
