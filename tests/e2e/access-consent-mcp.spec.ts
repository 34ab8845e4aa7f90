/**
 * Per-tool consent, end to end: the real MCP SDK client discovers the authorization server, registers
 * itself, sends the browser to Authorize Application, where the user unticks one of three tools; the
 * client then sees exactly the two granted tools and is refused the third.
 */
import type { Page } from "@playwright/test";
import { authorizeInBrowser, expectAuthorizationRequired, finishAuthorization, MemoryProvider, seedServer, startToolEndpoint } from "./mcp-client-harness";
import { callbackInBrowser, startCallback } from "./authorize-data";
import { createUser, expect, javaScriptOn, signIn, test } from "./fixtures";

test("the MCP SDK client granted two of three tools lists exactly those two and is refused the third", async ({ page, app }) => {
  const user = await createUser(app);
  const endpoint = await startToolEndpoint();
  const callback = await startCallback();
  try {
    const serverId = await seedServer(app.dataDir, user.id, endpoint.url, ["forecast", "alerts", "radar"]);
    const mcpUrl = new URL(`${app.url}/mcp/${serverId}`);
    const provider = new MemoryProvider(callback.url);

    // 1. The client is told to authorize; the SDK discovers, registers and builds the URL.
    await expectAuthorizationRequired(provider, mcpUrl);
    expect(provider.authorizationUrl?.pathname).toBe("/authorize");

    // 2. The person signs in, unticks one tool and approves.
    await signIn(page, app, user.email);
    await page.goto(provider.authorizationUrl!.toString());
    await expect(page.getByRole("heading", { name: "Authorize Application" })).toBeVisible();
    for (const name of ["forecast", "alerts", "radar"]) await expect(page.getByRole("checkbox", { name: new RegExp(name) })).toBeChecked();
    await page.getByRole("checkbox", { name: /alerts/ }).uncheck();
    await page.getByRole("button", { name: "Approve" }).click();
    const code = (await callbackInBrowser(page, callback)).get("code");
    expect(code).toMatch(/^tgc_/);

    // 3. The client exchanges the code and connects.
    const client = await finishAuthorization(provider, mcpUrl, code!);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(["forecast", "radar"]);

      const granted = await client.callTool({ name: "forecast", arguments: {} });
      expect(granted.isError).toBeFalsy();
      expect(JSON.stringify(granted.content)).toContain("called /forecast");

      await expect(client.callTool({ name: "alerts", arguments: {} })).rejects.toThrow(/not approved/);
      expect(endpoint.calls).toEqual(["/forecast"]);
    } finally {
      await client.close();
    }

    // 4. The connected-applications page shows the subset; the activity page shows the calls.
    await page.goto(`${app.url}/servers/${serverId}/connections`);
    await page.getByText("Show details").click();
    await expect(page.getByRole("list", { name: "Tools granted to Consent E2E Client" }).getByRole("listitem")).toHaveText(["forecast", "radar"]);
    await page.goto(`${app.url}/servers/${serverId}/activity`);
    await expect(page.getByRole("cell", { name: `${user.email} approved Consent E2E Client for forecast, radar` })).toBeVisible();
    await expect(page.getByRole("cell", { name: /^Consent E2E Client called forecast successfully/ })).toBeVisible();
  } finally {
    await callback.close();
    await endpoint.close();
  }
});

test("a second device of the same client keeps the first one working; Revoke access ends both", async ({ page, app }) => {
  const user = await createUser(app);
  const endpoint = await startToolEndpoint();
  const callbackA = await startCallback();
  const callbackB = await startCallback();
  try {
    const serverId = await seedServer(app.dataDir, user.id, endpoint.url, ["forecast"]);
    const mcpUrl = new URL(`${app.url}/mcp/${serverId}`);
    await signIn(page, app, user.email);

    const deviceA = new MemoryProvider(callbackA.url);
    const clientA = await authorizeInBrowser(page, deviceA, mcpUrl, callbackA);
    // Device B is the same application (same client id) installed elsewhere, authorizing again.
    const deviceB = new MemoryProvider(callbackB.url);
    deviceB.info = deviceA.info;
    const clientB = await authorizeInBrowser(page, deviceB, mcpUrl, callbackB);
    expect(deviceB.saved!.access_token).not.toBe(deviceA.saved!.access_token);

    expect((await clientA.listTools()).tools.map((t) => t.name)).toEqual(["forecast"]);
    expect((await clientB.listTools()).tools.map((t) => t.name)).toEqual(["forecast"]);
    const refreshA = await fetch(`${app.url}/token`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: deviceA.saved!.refresh_token!, client_id: deviceA.info!.client_id }),
    });
    expect(refreshA.status).toBe(200);
    const rotatedA = (await refreshA.json()) as { access_token: string; refresh_token: string };

    // One connected application, revoked with one click: both devices are cut off.
    await page.goto(`${app.url}/servers/${serverId}/connections`);
    await expect(page.getByRole("heading", { name: "Consent E2E Client" })).toHaveCount(1);
    await expect(page.getByTestId("group-summary")).toContainText("2 devices");
    await revokeConfirmed(page, "Revoke access for Consent E2E Client");
    await expect(page.getByRole("status")).toHaveText("Access revoked for Consent E2E Client. Its tokens no longer work.");
    for (const token of [rotatedA.access_token, deviceB.saved!.access_token]) {
      const res = await fetch(mcpUrl, {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", Accept: "application/json, text/event-stream" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
      });
      expect(res.status).toBe(401);
      await res.body?.cancel();
    }
    await clientA.close().catch(() => undefined);
    await clientB.close().catch(() => undefined);
  } finally {
    await callbackA.close();
    await callbackB.close();
    await endpoint.close();
  }
});

/** Revoke access asks first: confirm in the dialog (JavaScript) or on the confirmation page. */
async function revokeConfirmed(page: Page, name: string) {
  const js = javaScriptOn();
  await page.getByRole(js ? "button" : "link", { name }).click();
  await (js ? page.getByRole("dialog") : page.locator("main")).getByRole("button", { name: "Revoke access", exact: true }).click();
}
