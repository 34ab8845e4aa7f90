import http from "node:http";
import type { AddressInfo } from "node:net";
import { createUser, expect, signIn, test } from "./fixtures";
import { authorizeUrl, pkce, registerClient, seedServer, startCallback } from "./authorize-data";

// Clickjacking (RFC 9700 §4.16) and cross-site form posts, in a real browser: another site can
// neither frame the consent page nor submit Toolgate's forms.

/** A page on another origin (127.0.0.1 vs localhost) serving the given HTML. */
async function attackerSite(html: string) {
  const server = http.createServer((_req, res) => res.writeHead(200, { "Content-Type": "text/html" }).end(html));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

test("another site cannot frame the consent page", async ({ page, app }) => {
  const user = await createUser(app);
  await signIn(page, app, user.email);
  const server = await seedServer(app.dataDir, user.id, "Framed", ["echo"]);
  const callback = await startCallback();
  const clientId = await registerClient(app.url, [callback.url], "Frame Test");
  const consent = authorizeUrl(app.url, {
    response_type: "code", client_id: clientId, redirect_uri: callback.url, code_challenge: pkce().challenge,
    code_challenge_method: "S256", state: "s", resource: `${app.url}/mcp/${server.id}`,
  });
  // The page itself renders when visited directly.
  await page.goto(consent);
  await expect(page.getByRole("heading", { name: "Authorize Application" })).toBeVisible();
  const site = await attackerSite(`<!doctype html><title>Win a prize</title><iframe id="f" src="${consent}" width="800" height="600"></iframe>`);
  try {
    await page.goto(site.url);
    await page.waitForTimeout(1000);
    const frame = page.frames().find((f) => f !== page.mainFrame());
    expect(frame).toBeDefined();
    // frame-ancestors 'none': Chromium blocks the document; nothing of the consent page is in the frame.
    // (Every Toolgate page shows the brand, signed in or not.)
    expect(await frame!.locator("text=Toolgate").count()).toBe(0);
    expect(await frame!.locator("text=Authorize Application").count()).toBe(0);
    expect(await frame!.locator("button", { hasText: "Approve" }).count()).toBe(0);
  } finally {
    await site.close();
    await callback.close();
  }
});

test("a form on another site cannot create a server in the signed-in user's account", async ({ page, app, javaScriptEnabled }) => {
  test.skip(!javaScriptEnabled, "the attacker's page submits its form with a script");
  const user = await createUser(app);
  await signIn(page, app, user.email);
  const site = await attackerSite(
    `<!doctype html><form id="f" method="post" action="${app.url}/servers/new"><input name="name" value="Planted"><input name="csrf" value="guess"></form><script>document.getElementById("f").submit()</script>`,
  );
  try {
    await page.goto(site.url);
    await page.waitForLoadState("load");
    await page.waitForTimeout(500);
    // Either the browser withheld the cookie (SameSite) or Toolgate refused the post: never created.
    await page.goto(app.url);
    await expect(page.getByText("Planted")).toHaveCount(0);
  } finally {
    await site.close();
  }
});
