import { expect, PASSWORD, startApp, test } from "./fixtures";

test.describe("first run", () => {
  test("creates the owner account, signs out and signs in again", async ({ page }) => {
    const app = await startApp();
    try {
      await page.goto(app.url);
      await expect(page).toHaveURL(/\/setup$/);
      await expect(page.getByRole("heading", { name: "Welcome to Toolgate" })).toBeVisible();
      await page.getByLabel("Email").fill("owner@example.test");
      await page.getByLabel("Password", { exact: true }).fill("short");
      await page.getByLabel("Confirm password").fill("short");
      await page.getByRole("button", { name: "Create owner account" }).click();
      await expect(page.getByText("Password must be at least 10 characters")).toBeVisible();

      await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
      await page.getByLabel("Confirm password").fill(PASSWORD);
      await page.getByRole("button", { name: "Create owner account" }).click();
      await expect(page.getByRole("heading", { name: "Your MCP servers" })).toBeVisible();

      // The first-run page is gone once an account exists.
      await page.goto(`${app.url}/setup`);
      await expect(page).toHaveURL(/\/$/);

      await page.getByRole("button", { name: "Sign out" }).click();
      await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
      await page.getByLabel("Email").fill("owner@example.test");
      await page.getByLabel("Password").fill("not the password");
      await page.getByRole("button", { name: "Sign in" }).click();
      await expect(page.getByRole("alert")).toHaveText("Email or password is incorrect");
      await page.getByLabel("Password").fill(PASSWORD);
      await page.getByRole("button", { name: "Sign in" }).click();
      await expect(page.getByRole("heading", { name: "Your MCP servers" })).toBeVisible();
    } finally {
      await app.stop();
    }
  });
});
