import AxeBuilder from "@axe-core/playwright";
import type { Browser, Page } from "@playwright/test";
import { createUser, expect, javaScriptOn, PASSWORD, signIn, startApp, test, uniqueEmail } from "./fixtures";
import { seedConnection } from "./access-data";
import { withAppDb } from "../helpers/app-db";
import { authorizeUrl, pkce, registerClient, seedServer } from "./authorize-data";

/** Fails on any axe-core violation, whatever its impact (WCAG 2.x A/AA rules and best practices). */
async function expectAccessible(page: Page, label: string) {
  const results = await new AxeBuilder({ page }).analyze();
  const bad = results.violations;
  expect(
    bad.map((v) => `${v.id} (${v.impact}): ${v.help}\n  ${v.nodes.map((n) => n.target.join(" ")).join("\n  ")}`),
    `${label}: ${page.url()}`,
  ).toEqual([]);
}

/**
 * axe-core runs inside the page, which a browser with JavaScript turned off cannot do. For the no-js
 * project the page is opened in a context that refuses every script file instead: the app never
 * hydrates and forms post natively, so axe checks exactly the HTML a no-JavaScript browser gets.
 */
async function openPage(browser: Browser, options: { colorScheme?: "light" | "dark"; viewport?: { width: number; height: number } } = {}): Promise<Page> {
  const context = await browser.newContext({ javaScriptEnabled: true, ...options });
  if (!javaScriptOn()) {
    await context.route("**/*", (route) => (route.request().resourceType() === "script" ? route.abort() : route.continue()));
  }
  return context.newPage();
}

test.describe("accessibility (axe-core)", () => {
  test("first-run setup page, with and without errors", async ({ browser }) => {
    const page = await openPage(browser);
    const app = await startApp();
    try {
      await page.goto(`${app.url}/setup`);
      await expectAccessible(page, "setup");
      await page.getByRole("button", { name: "Create owner account" }).click();
      await expect(page.locator(".field-error").first()).toBeVisible();
      await expectAccessible(page, "setup with errors");
    } finally {
      await app.stop();
    }
  });

  test("sign-in page, with an error", async ({ browser, app }) => {
    const page = await openPage(browser);
    await page.goto(`${app.url}/sign-in`);
    await expectAccessible(page, "sign-in");
    await page.getByLabel("Email").fill(uniqueEmail());
    await page.getByLabel("Password").fill("not the password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByRole("alert")).toBeVisible();
    await expectAccessible(page, "sign-in with error");
  });

  test("server list, server pages and forms", async ({ browser, app }) => {
    test.setTimeout(150_000);
    const page = await openPage(browser);
    const { email } = await createUser(app);
    await signIn(page, app, email);
    await expectAccessible(page, "empty server list");

    await page.getByRole("link", { name: "New server" }).first().click();
    await expectAccessible(page, "new server");
    await page.getByRole("button", { name: "Create server" }).click();
    await expect(page.getByText("Enter a name.")).toBeVisible();
    await expectAccessible(page, "new server with errors");
    await page.getByLabel("Name").fill("Accessible server");
    await page.getByLabel("Description (optional)").fill("Checked by axe");
    await page.getByRole("button", { name: "Create server" }).click();
    await expect(page.getByRole("textbox", { name: "Signing secret" })).toBeVisible();
    // The copy buttons exist only once the page has hydrated; without JavaScript the values are selectable text.
    const copyButtons = page.getByRole("button", { name: /^Copy/ });
    if (!javaScriptOn()) await expect(copyButtons).toHaveCount(0);
    else await expect(copyButtons.first()).toBeVisible();
    await expect(page.getByRole("textbox", { name: "MCP URL" })).toHaveAttribute("readonly", "");
    await expectAccessible(page, "server page with the new signing secret");
    const serverPath = new URL(page.url()).pathname;

    await page.getByRole("link", { name: "Add tool" }).click();
    await expectAccessible(page, "new tool");
    await page.getByLabel("Name").fill("bad name");
    await page.getByRole("button", { name: "Add tool" }).click();
    await expect(page.locator(".field-error").first()).toBeVisible();
    await expectAccessible(page, "new tool with errors");
    await page.getByLabel("Name").fill("lookup");
    await page.getByLabel("Endpoint URL").fill("https://tools.example.test/lookup");
    await page.getByRole("button", { name: "Add tool" }).click();
    await expect(page.getByRole("heading", { name: "lookup" })).toBeVisible();
    await expectAccessible(page, "server page with a tool");

    await page.getByRole("link", { name: "Edit lookup" }).click();
    await expectAccessible(page, "edit tool");
    await page.goto(`${app.url}${serverPath}`);
    await page.getByRole("link", { name: "Delete lookup" }).click();
    await expectAccessible(page, "delete tool confirmation");
    await page.goto(`${app.url}${serverPath}/edit`);
    await expectAccessible(page, "edit server");
    await page.goto(`${app.url}${serverPath}/delete`);
    await expectAccessible(page, "delete server confirmation");
    await page.goto(app.url);
    await expectAccessible(page, "server list");
    await page.goto(`${app.url}/servers/does-not-exist`);
    await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
    await expectAccessible(page, "not found");
  });

  test("users page and remove confirmation (owner)", async ({ browser, app }) => {
    const page = await openPage(browser);
    const owner = await createUser(app, { owner: true });
    const member = await createUser(app);
    await signIn(page, app, owner.email, PASSWORD);
    await page.goto(`${app.url}/users`);
    await expectAccessible(page, "users");
    await page.getByRole("button", { name: "Add user" }).click();
    await expect(page.locator(".field-error").first()).toBeVisible();
    await expectAccessible(page, "users with errors");
    await page.goto(`${app.url}/users/${member.id}/remove`);
    await expectAccessible(page, "remove user");
  });

  for (const [colorScheme, viewport] of [
    ["light", { width: 1280, height: 800 }],
    ["dark", { width: 390, height: 844 }],
  ] as const) {
    test(`connected apps, confirmations, activity, consent and help (${colorScheme}, ${viewport.width}px)`, async ({ browser, app }) => {
      test.setTimeout(150_000);
      const page = await openPage(browser, { colorScheme, viewport });
      const js = javaScriptOn();
      const user = await createUser(app);
      const first = await seedConnection(app.dataDir, { ownerId: user.id, serverName: "Weather", clientName: "MCP Inspector", tools: ["forecast"], granted: ["forecast"], ageMs: 60_000 });
      for (let i = 0; i < 4; i++) {
        await seedConnection(app.dataDir, { ownerId: user.id, serverName: "Weather", clientName: "MCP Inspector", tools: [], granted: ["forecast"], server: { id: first.serverId, toolIds: first.toolIds } });
      }
      await seedConnection(app.dataDir, { ownerId: user.id, serverName: "Notes", clientName: "Claude Code", tools: ["search"], granted: ["search"] });
      await withAppDb(app.dataDir, (db) =>
        db.run(
          "insert into audit_events (at, kind, server_id, user_id, client_id, grant_id, actor, detail) values (?, 'tool.called', ?, ?, ?, ?, ?, ?)",
          Date.now(), first.serverId, user.id, first.clientId, first.grantId, `client:${first.clientId}`, JSON.stringify({ tool: "forecast", outcome: "ok", durationMs: 12 }),
        ),
      );
      const calendar = await seedServer(app.dataDir, user.id, "Calendar", ["list_events", "create_event"]);
      const clientId = await registerClient(app.url, ["http://127.0.0.1:33418/callback"], "Claude Code");
      const consent = authorizeUrl(app.url, {
        response_type: "code",
        client_id: clientId,
        redirect_uri: "http://127.0.0.1:33418/callback",
        code_challenge: pkce().challenge,
        code_challenge_method: "S256",
        resource: `${app.url}/mcp/${calendar.id}`,
      });
      await page.goto(consent);
      await expect(page.getByTestId("sign-in-context")).toBeVisible();
      await expectAccessible(page, "sign-in naming the application");
      await page.getByLabel("Email").fill(user.email);
      await page.getByLabel("Password").fill(PASSWORD);
      await page.getByRole("button", { name: "Sign in" }).click();
      await expect(page.getByRole("button", { name: "Approve" })).toBeVisible();
      await expectAccessible(page, "Authorize Application");

      await page.goto(`${app.url}/connections`);
      await expectAccessible(page, "connected apps");
      await page.getByText("Show 5 authorizations").click();
      await expectAccessible(page, "connected apps, expanded");
      if (js) {
        await page.getByRole("button", { name: "Revoke all access for MCP Inspector" }).click();
        await expect(page.getByRole("dialog")).toBeVisible();
        await expectAccessible(page, "revoke dialog");
      } else {
        await page.goto(`${app.url}/connections`);
        await page.getByRole("link", { name: "Revoke all access for MCP Inspector" }).click();
        await expect(page.getByRole("heading", { name: "Revoke access for MCP Inspector?" })).toBeVisible();
        await expectAccessible(page, "revoke confirmation page");
      }
      await page.goto(`${app.url}/connections?q=nothing-matches`);
      await expectAccessible(page, "connected apps, empty search");
      await page.goto(`${app.url}/servers/${first.serverId}/connections`);
      await expectAccessible(page, "server connections");
      await page.goto(`${app.url}/servers/${first.serverId}/activity`);
      await expectAccessible(page, "activity");
      await page.goto(`${app.url}/servers/${calendar.id}/rotate-secret`);
      await expectAccessible(page, "rotate confirmation page");
      await page.goto(`${app.url}/help/troubleshooting`);
      await expectAccessible(page, "troubleshooting");
      await page.goto(app.url);
      await expectAccessible(page, "server list");
    });
  }
});
