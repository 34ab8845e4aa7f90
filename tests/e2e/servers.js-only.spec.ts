import { createUser, expect, signIn, test } from "./fixtures";

// What only exists with JavaScript: copy buttons and form posts without full page loads.
test.describe("server pages with JavaScript", () => {
  test("forms submit without reloading the page, and Copy puts the MCP URL on the clipboard", async ({ page, app, context }) => {
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: app.url });
    const { email } = await createUser(app);
    await signIn(page, app, email);
    await page.getByRole("link", { name: "New server" }).first().click();
    await expect(page.getByRole("heading", { name: "New MCP server" })).toBeVisible();
    // A marker on window survives only client-side navigations.
    await page.evaluate(() => ((window as unknown as { marker: string }).marker = "same document"));
    await page.getByLabel("Name").fill("Clipboard test");
    await page.getByRole("button", { name: "Create server" }).click();
    await expect(page.getByRole("heading", { name: "Clipboard test", level: 1 })).toBeVisible();
    expect(await page.evaluate(() => (window as unknown as { marker?: string }).marker)).toBe("same document");

    const url = await page.getByRole("textbox", { name: "MCP URL" }).inputValue();
    expect(url).toMatch(new RegExp(`^${app.url}/mcp/[A-Za-z0-9_-]+$`));
    await page.getByRole("button", { name: "Copy MCP URL" }).click();
    await expect(page.getByRole("button", { name: "Copied MCP URL" })).toBeVisible();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(url);
  });
});
