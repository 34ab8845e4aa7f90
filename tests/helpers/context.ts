import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { inject } from "vitest";
import { parseConfig, type Config } from "~/config.server";
import { DATABASE_FILE, type AppContext } from "~/context.server";
import { openStore } from "~/db/client.server";
import { createLogger } from "~/utils/log.server";

export type TestContext = AppContext & {
  /** Moves the test clock. */
  advance(ms: number): void;
  setNow(ms: number): void;
  /** Every log line written through ctx.logger. */
  logs: string[];
  cleanup(): void;
};

/**
 * A real AppContext on its own SQLite file (a copy of the migrated template), with a controllable
 * clock and captured logs. Call `cleanup()` (or use `useTestContext`) when done.
 */
export function createTestContext(env: Record<string, string> = {}): TestContext {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-test-"));
  fs.copyFileSync(inject("templateDb"), path.join(dir, DATABASE_FILE));
  const config: Config = parseConfig({
    PUBLIC_URL: "http://localhost:3000",
    TOOLGATE_DATA_DIR: dir,
    TOOLGATE_LOG_LEVEL: "debug",
    // The test clock stands still, so buckets would never refill; rate-limit tests turn it on.
    TOOLGATE_RATE_LIMIT: "off",
    ...env,
  });
  const store = openStore(path.join(dir, DATABASE_FILE));
  let now = Date.UTC(2026, 0, 1, 12, 0, 0);
  const logs: string[] = [];
  return {
    config,
    db: store.db,
    store,
    secrets: { sessionSecret: randomBytes(32).toString("base64url"), dataKey: randomBytes(32) },
    logger: createLogger("debug", (line) => logs.push(line)),
    now: () => now,
    advance(ms) {
      now += ms;
    },
    setNow(ms) {
      now = ms;
    },
    logs,
    cleanup() {
      store.sqlite.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
