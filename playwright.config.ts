import { defineConfig } from "@playwright/test";

const chromium = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

// Every spec runs twice: in Chromium with JavaScript on and with it off. Specs named
// *.js-only.spec.ts test what exists only with JavaScript (copy buttons, pending states). The
// `postgres` project runs the page specs a third time, with the app on PostgreSQL.
export default defineConfig({
  testDir: "tests/e2e",
  fullyParallel: true,
  workers: process.env.PW_WORKERS ? Number(process.env.PW_WORKERS) : 2,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  forbidOnly: Boolean(process.env.CI),
  retries: 0,
  reporter: process.env.CI ? [["list"]] : [["list"]],
  use: {
    launchOptions: {
      executablePath: chromium,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
    trace: "retain-on-failure",
  },
  projects: [
    { name: "js", use: { javaScriptEnabled: true } },
    { name: "no-js", use: { javaScriptEnabled: false }, testIgnore: /\.js-only\.spec\.ts$/ },
    // The app on PostgreSQL (JavaScript on): the specs that work only through the browser, the CLI
    // and HTTP. The others seed or inspect the SQLite file directly (authorize-data.ts,
    // access-data.ts); the consent flow over three replicas on PostgreSQL is replicas.spec.ts.
    {
      name: "postgres",
      use: { javaScriptEnabled: true },
      testMatch: ["servers.spec.ts", "openapi-rest.spec.ts", "machine-access.spec.ts", "oauth-flow.spec.ts"],
    },
  ],
});
