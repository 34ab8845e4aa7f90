import AxeBuilder from "@axe-core/playwright";
import type { Page } from "@playwright/test";
import { createUser, expect, javaScriptOn, signIn, test } from "./fixtures";
import { mcpStatus, revocationState, seedConnection } from "./access-data";

/** No serious or critical axe-core violation on the page as it stands (axe needs JavaScript to run). */
async function expectAccessible(page: Page) {
  if (test.info().project.use.javaScriptEnabled === false) return;
  const results = await new AxeBuilder({ page }).analyze();
  const bad = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`)).toEqual([]);
}

// Runs with JavaScript on and off (playwright.config.ts projects): Revoke access asks first (a dialog
// with JavaScript, a confirmation page without), whose form is a plain POST.

/** Clicks Revoke access and confirms it, in whichever form the page asks. */
async function revoke(page: Page, name: string | RegExp) {
  const js = javaScriptOn();
  await page.getByRole(js ? "button" : "link", { name }).click();
  const scope = js ? page.getByRole("dialog") : page.locator("main");
  await expect(scope).toContainText("it has to ask you again");
  await scope.getByRole("button", { name: "Revoke access", exact: true }).click();
}
test("Revoke access on the all-servers page cuts the application off on its very next request", async ({ page, app }) => {
  const user = await createUser(app);
  const grant = await seedConnection(app.dataDir, {
    ownerId: user.id,
    serverName: "Weather",
    clientName: "Claude Desktop",
    tools: ["forecast", "alerts", "radar"],
    granted: ["forecast", "radar"],
  });
  const keep = await seedConnection(app.dataDir, {
    ownerId: user.id,
    serverName: "Notes",
    clientName: "Editor",
    tools: ["search"],
    granted: ["search"],
  });
  expect(await mcpStatus(app.url, grant.serverId, grant.accessToken)).toBe(200);

  await signIn(page, app, user.email);
  await page.goto(`${app.url}/connections`);
  await expect(page.getByRole("heading", { name: "Connected applications", level: 1 })).toBeVisible();
  const item = page.getByRole("listitem").filter({ has: page.getByRole("heading", { name: "Claude Desktop" }) });
  await item.getByText("Show details").click();
  await expect(item.getByRole("list", { name: "Tools granted to Claude Desktop" }).getByRole("listitem")).toHaveText(["forecast", "radar"]);
  await expect(item).toContainText("127.0.0.1:33418");
  await expect(item).toContainText("Self-registered");
  await expect(item).toContainText("Weather");
  await expectAccessible(page);

  await revoke(page, "Revoke access for Claude Desktop");
  await expect(page.getByRole("status")).toHaveText("Access revoked for Claude Desktop. Its tokens no longer work.");
  await expect(page.getByRole("heading", { name: "Claude Desktop" })).toHaveCount(0);
  await expect(page.getByRole("heading", { name: "Editor" })).toBeVisible();

  const state = await revocationState(app.dataDir, grant);
  expect(state.grant.revoked_at).not.toBeNull();
  expect(state.grant.revoked_by).toBe(user.id);
  expect(state.access).not.toBeNull();
  expect(state.refresh).not.toBeNull();
  expect(state.events).toEqual([{ kind: "grant.revoked", actor: user.id }]);
  expect(await mcpStatus(app.url, grant.serverId, grant.accessToken)).toBe(401);
  expect(await mcpStatus(app.url, keep.serverId, keep.accessToken)).toBe(200);
  const refresh = await fetch(`${app.url}/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: grant.refreshToken, client_id: grant.clientId }),
  });
  expect(refresh.status).toBe(400);
  expect(((await refresh.json()) as { error: string }).error).toBe("invalid_grant");

  // The event shows on the server's Activity page.
  await page.goto(`${app.url}/servers/${grant.serverId}/activity`);
  await expect(page.getByRole("cell", { name: `${user.email} revoked the access of Claude Desktop; its tokens stopped working` })).toBeVisible();
  await expectAccessible(page);
  // Filtering by kind is a plain GET form.
  await page.getByLabel("Event", { exact: true }).selectOption("tool.called");
  await page.getByRole("button", { name: "Filter" }).click();
  await expect(page).toHaveURL(/kind=tool\.called/);
  await expect(page.getByText("No events match this filter.")).toBeVisible();
});

test("the per-server page lists only that server's applications and revokes there", async ({ page, app }) => {
  const user = await createUser(app);
  const grant = await seedConnection(app.dataDir, { ownerId: user.id, serverName: "Weather", clientName: "Cursor", tools: ["forecast"], granted: ["forecast"] });
  const other = await seedConnection(app.dataDir, { ownerId: user.id, serverName: "Notes", clientName: "Inspector", tools: ["search"], granted: ["search"] });
  await signIn(page, app, user.email);
  await page.goto(`${app.url}/servers/${grant.serverId}/connections`);
  await expect(page.getByRole("heading", { name: "Inspector" })).toHaveCount(0);
  await revoke(page, "Revoke access for Cursor");
  await expect(page.getByRole("status")).toHaveText("Access revoked for Cursor. Its tokens no longer work.");
  await expect(page).toHaveURL(`${app.url}/servers/${grant.serverId}/connections`);
  await expect(page.getByText("No application can reach this server right now.")).toBeVisible();
  expect((await revocationState(app.dataDir, grant)).access).not.toBeNull();
  expect((await revocationState(app.dataDir, other)).access).toBeNull();

  // Another user's server is a 404 page, not a list.
  const stranger = await createUser(app);
  const theirs = await seedConnection(app.dataDir, { ownerId: stranger.id, serverName: "Private", clientName: "Secret app", tools: ["x"], granted: ["x"] });
  const response = await page.goto(`${app.url}/servers/${theirs.serverId}/connections`);
  expect(response!.status()).toBe(404);
  await expect(page.getByText("Secret app")).toHaveCount(0);
  const activity = await page.goto(`${app.url}/servers/${theirs.serverId}/activity`);
  expect(activity!.status()).toBe(404);
});
