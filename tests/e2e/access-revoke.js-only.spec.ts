import { createUser, expect, signIn, test } from "./fixtures";
import { revocationState, seedConnection } from "./access-data";

test("Revoke access shows a pending state while the request is in flight", async ({ page, app }) => {
  const user = await createUser(app);
  const grant = seedConnection(app.dataDir, { ownerId: user.id, serverName: "Weather", clientName: "Claude Desktop", tools: ["forecast"], granted: ["forecast"] });
  await signIn(page, app, user.email);
  await page.goto(`${app.url}/connections`);
  // Hold the form post back a little so the pending state can be observed.
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  await page.route(
    (url) => url.pathname.startsWith("/connections"),
    async (route) => {
      if (route.request().method() === "POST") await held;
      await route.continue();
    },
  );
  const button = page.getByRole("button", { name: /Revoke access for Claude Desktop/ });
  await button.click();
  await expect(button).toBeDisabled();
  await expect(button).toHaveText("Revoking…");
  release();
  await expect(page.getByRole("status")).toHaveText("Access revoked for Claude Desktop. Its tokens no longer work.");
  expect(revocationState(app.dataDir, grant).access).not.toBeNull();
});
