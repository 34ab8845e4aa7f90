import { createUser, expect, signIn, test } from "./fixtures";
import { revocationState, seedConnection } from "./access-data";

test("Revoke access asks in an accessible dialog: Escape and Cancel change nothing, confirming revokes", async ({ page, app }) => {
  const user = await createUser(app);
  const grant = await seedConnection(app.dataDir, { ownerId: user.id, serverName: "Weather", clientName: "Claude Code", tools: ["forecast"], granted: ["forecast"] });
  await signIn(page, app, user.email);
  await page.goto(`${app.url}/connections`);
  const button = page.getByRole("button", { name: "Revoke access for Claude Code" });
  await expect(button).toHaveAttribute("aria-haspopup", "dialog");
  await button.click();
  const dialog = page.getByRole("dialog", { name: "Revoke access for Claude Code?" });
  await expect(dialog).toBeVisible();
  await expect(dialog).toHaveAccessibleDescription(
    "Claude Code will lose access to Weather; its tokens stop working at once and it has to ask you again.",
  );
  // Focus is inside the dialog (on Cancel, the safe choice).
  await expect(dialog.getByRole("button", { name: "Cancel" })).toBeFocused();
  await page.keyboard.press("Escape");
  await expect(dialog).toBeHidden();
  await button.click();
  await dialog.getByRole("button", { name: "Cancel" }).click();
  await expect(dialog).toBeHidden();
  expect((await revocationState(app.dataDir, grant)).access).toBeNull();

  await button.click();
  await dialog.getByRole("button", { name: "Revoke access", exact: true }).click();
  await expect(page.getByRole("status")).toHaveText("Access revoked for Claude Code. Its tokens no longer work.");
  expect((await revocationState(app.dataDir, grant)).access).not.toBeNull();
});
