import { createUser, signIn, test } from "./fixtures";
import { seedConnection } from "./access-data";
import { authorizeUrl, pkce, registerClient, seedServer } from "./authorize-data";

for (const size of [{ w: 1280, h: 800, n: "desk" }, { w: 390, h: 844, n: "phone" }]) {
  for (const scheme of ["light", "dark"] as const) {
    test(`shots ${size.n} ${scheme}`, async ({ browser, app }, info) => {
      test.setTimeout(120_000);
      const js = info.project.name === "js";
      const context = await browser.newContext({ viewport: { width: size.w, height: size.h }, colorScheme: scheme, javaScriptEnabled: js });
      const page = await context.newPage();
      const tag = `${size.n}-${scheme}-${info.project.name}`;
      const shot = (name: string) => page.screenshot({ path: `/tmp/shots/${name}-${tag}.png`, fullPage: false });
      const user = await createUser(app);
      const first = seedConnection(app.dataDir, { ownerId: user.id, serverName: "Weather", clientName: "MCP Inspector", tools: ["forecast", "alerts", "radar"], granted: ["forecast", "radar"], ageMs: 3600_000 });
      for (let i = 0; i < 19; i++) seedConnection(app.dataDir, { ownerId: user.id, serverName: "Weather", clientName: "MCP Inspector", tools: [], granted: ["forecast"], server: { id: first.serverId, toolIds: first.toolIds }, ageMs: i * 60_000 });
      seedConnection(app.dataDir, { ownerId: user.id, serverName: "Notes", clientName: "Claude Code", tools: ["search"], granted: ["search"] });
      const server = seedServer(app.dataDir, user.id, "Calendar", ["list_events", "create_event", "delete_event", "find_free_time", "invite", "cancel", "reschedule"]);
      const clientId = await registerClient(app.url, ["http://127.0.0.1:33418/callback"]);
      const url = authorizeUrl(app.url, { response_type: "code", client_id: clientId, redirect_uri: "http://127.0.0.1:33418/callback", code_challenge: pkce().challenge, code_challenge_method: "S256", state: "s", resource: `${app.url}/mcp/${server.id}` });
      await page.goto(url);
      await shot("signin-context");
      await page.getByLabel("Email").fill(user.email);
      await page.getByLabel("Password").fill("correct horse battery staple");
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.waitForURL((u) => u.pathname === "/authorize");
      await shot("consent");
      await page.goto(app.url);
      await shot("servers");
      await page.goto(`${app.url}/connections`);
      await shot("connections");
      await page.locator("details summary").first().click();
      await page.screenshot({ path: `/tmp/shots/connections-open-${tag}.png`, fullPage: true });
      await page.getByRole(js ? "button" : "link", { name: /Revoke all access for MCP Inspector/ }).click();
      await shot("revoke-confirm");
      await page.goto(`${app.url}/servers/${first.serverId}`);
      await page.screenshot({ path: `/tmp/shots/server-${tag}.png`, fullPage: true });
      await page.goto(`${app.url}/servers/${first.serverId}/connections`);
      await shot("server-connections");
      await page.goto(`${app.url}/servers/${first.serverId}/activity`);
      await shot("activity");
      await page.goto(`${app.url}/help/troubleshooting`);
      await shot("help");
      await context.close();
    });
  }
}
