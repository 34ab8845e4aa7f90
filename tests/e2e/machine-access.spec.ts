import AxeBuilder from "@axe-core/playwright";
import { createUser, expect, javaScriptOn, signIn, test } from "./fixtures";

// The server's "Machine and enterprise access" page in a real browser (with and without
// JavaScript): create a machine client, see its secret once, use it at /token, revoke it.
test("an owner creates a machine client, its secret works once shown, and revoking it ends it", async ({ page, app, request }) => {
  const { email } = await createUser(app);
  await signIn(page, app, email);
  await page.getByRole("link", { name: "New server" }).first().click();
  await page.getByLabel("Name").fill("Machines");
  await page.getByRole("button", { name: "Create server" }).click();
  await expect(page.getByRole("heading", { name: "Machines", level: 1 })).toBeVisible();
  await page.getByRole("link", { name: "Machine and enterprise access" }).click();
  await expect(page.getByRole("heading", { name: "Machine and enterprise access", level: 1 })).toBeVisible();

  await page.getByLabel("Name").fill("Nightly job");
  await page.getByRole("button", { name: "Create machine client" }).click();
  const secret = await page.getByRole("textbox", { name: "Client secret" }).inputValue();
  const clientId = await page.getByRole("textbox", { name: "Client ID" }).inputValue();
  expect(secret).toMatch(/^tgs_/);
  await expect(page.getByRole("list", { name: "Machine clients" })).toContainText("Nightly job");
  // axe runs as a script in the page: only where JavaScript is on.
  if (javaScriptOn()) {
    const axe = await new AxeBuilder({ page }).analyze();
    expect(axe.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => v.id)).toEqual([]);
  }

  const basic = `Basic ${Buffer.from(`${clientId}:${secret}`).toString("base64")}`;
  const token = await request.post(`${app.url}/token`, { form: { grant_type: "client_credentials" }, headers: { Authorization: basic } });
  expect(token.status()).toBe(200);
  expect(await token.json()).toMatchObject({ token_type: "Bearer", scope: "mcp:tools" });

  // Reloading does not show the secret again.
  await page.goto(`${page.url()}`);
  await expect(page.getByRole("textbox", { name: "Client secret" })).toHaveCount(0);

  await page.getByRole("button", { name: "Revoke Nightly job" }).click();
  await expect(page.getByText("No machine clients.")).toBeVisible();
  const after = await request.post(`${app.url}/token`, { form: { grant_type: "client_credentials" }, headers: { Authorization: basic } });
  expect(await after.json()).toEqual({ error: "invalid_grant", error_description: "This machine client was revoked" });
});
