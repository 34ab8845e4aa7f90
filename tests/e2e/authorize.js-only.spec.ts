import { authorizeUrl, pkce, registerClient, seedServer, startCallback } from "./authorize-data";
import type { Page } from "@playwright/test";
import { createUser, expect, signIn, test, type AppUnderTest } from "./fixtures";

/**
 * Signs a new owner of a "Weather" server in and returns the authorize URL of a client whose
 * redirect is the app link com.example.toolgate-<scheme>:/oauth/callback.
 */
async function signedInAppLinkRequest(page: Page, app: AppUnderTest, scheme: string, clientName: string, state: string) {
  const user = await createUser(app);
  const server = await seedServer(app.dataDir, user.id, "Weather", ["forecast"]);
  const appLink = `com.example.toolgate-${scheme}:/oauth/callback`;
  const clientId = await registerClient(app.url, [appLink], clientName);
  await signIn(page, app, user.email);
  return authorizeUrl(app.url, {
    response_type: "code",
    client_id: clientId,
    redirect_uri: appLink,
    code_challenge: pkce().challenge,
    code_challenge_method: "S256",
    state,
    resource: `${app.url}/mcp/${server.id}`,
  });
}

// What exists only with JavaScript: the pending "Authorizing..." state and the Close Tab button.

test('Approve shows "Authorizing..." while the action runs', async ({ page, app }) => {
  const user = await createUser(app);
  const server = await seedServer(app.dataDir, user.id, "Weather", ["forecast"]);
  const callback = await startCallback();
  try {
    const clientId = await registerClient(app.url, [callback.url]);
    await signIn(page, app, user.email);
    await page.goto(
      authorizeUrl(app.url, {
        response_type: "code",
        client_id: clientId,
        redirect_uri: callback.url,
        code_challenge: pkce().challenge,
        code_challenge_method: "S256",
        state: "s1",
        resource: `${app.url}/mcp/${server.id}`,
      }),
    );
    // Hold the action's request a moment so the pending state can be seen.
    await page.route(/\/authorize\?/, async (route) => {
      if (route.request().method() === "POST") await new Promise((r) => setTimeout(r, 1500));
      await route.continue();
    });
    await page.getByRole("button", { name: "Approve" }).click();
    await expect(page.getByRole("status")).toHaveText("Authorizing...");
    // The pending state is on the button itself: its label, a spinner, disabled.
    const pending = page.getByRole("button", { name: "Authorizing..." });
    await expect(pending).toBeDisabled();
    await expect(pending.locator(".spinner")).toBeVisible();
    await expect(page.getByRole("button", { name: "Deny" })).toBeDisabled();
    expect((await callback.received).get("code")).toMatch(/^tgc_/);
  } finally {
    await callback.close();
  }
});

test("Authorization Complete offers Close Tab when the flow was opened as a popup", async ({ page, app, context }) => {
  const url = await signedInAppLinkRequest(page, app, "popup", "Popup App", "s2");
  const [popup] = await Promise.all([context.waitForEvent("page"), page.evaluate((u) => void window.open(u, "_blank", "popup"), url)]);
  await popup.getByRole("button", { name: "Approve" }).waitFor();
  await popup.getByRole("button", { name: "Approve" }).click();
  await expect(popup.getByRole("heading", { name: "Authorization Complete", level: 1 })).toBeVisible();
  const closed = popup.waitForEvent("close");
  // The click closes the page it was dispatched to, so Playwright may see the target vanish
  // before the click call returns; that is only acceptable when the page did close.
  await popup
    .getByRole("button", { name: "Close Tab" })
    .click()
    .catch((error: unknown) => {
      if (!popup.isClosed()) throw error;
    });
  await closed;
  expect(popup.isClosed()).toBe(true);
});

test("Authorization Complete opened without an opener does not offer Close Tab", async ({ page, app }) => {
  const url = await signedInAppLinkRequest(page, app, "tab", "Tab App", "s3");
  await page.goto(url);
  await page.getByRole("button", { name: "Approve" }).click();
  await expect(page.getByRole("heading", { name: "Authorization Complete", level: 1 })).toBeVisible();
  await expect(page.getByText("You can close this tab.")).toBeVisible();
  await expect(page.getByRole("button", { name: "Close Tab" })).toHaveCount(0);
});
