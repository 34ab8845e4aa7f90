import { defineConfig } from "@playwright/test";

const chromium = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
// The app processes the specs start check that every statement inside a transaction goes through
// its handle (app/db/transaction-check.server.ts); the workers and the apps inherit this.
process.env.TOOLGATE_CHECK_TRANSACTIONS ??= "1";

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
    // The pages and flows of a signed-in person a third time, with the app on PostgreSQL
    // (JavaScript on; tests/e2e/app-db.ts seeds either store). The consent flow over three
    // replicas on one PostgreSQL is replicas.spec.ts, in the projects above.
    {
      name: "postgres",
      use: { javaScriptEnabled: true },
      testMatch: [
        "servers.spec.ts",
        "pages-ux.spec.ts",
        "access-revoke.spec.ts",
        "access-revoke.js-only.spec.ts",
        "access-consent-mcp.spec.ts",
        "openapi-rest.spec.ts",
        "machine-access.spec.ts",
        "oauth-flow.spec.ts",
      ],
    },
  ],
});
