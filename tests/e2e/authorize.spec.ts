import type { Page } from "@playwright/test";
import { createUser, expect, PASSWORD, signIn, test, type AppUnderTest } from "./fixtures";
import { authorizeUrl, expireRequest, grantOf, pkce, registerClient, renameClient, seedServer, startCallback, type Callback } from "./authorize-data";

// Runs with JavaScript on and off (playwright.config.ts projects): the consent form is a plain POST.

let callback: Callback;
test.beforeEach(async () => {
  callback = await startCallback();
});
test.afterEach(async () => {
  await callback.close();
});

function params(clientId: string, extra: Record<string, string | undefined> = {}) {
  return {
    response_type: "code",
    client_id: clientId,
    redirect_uri: callback.url,
    code_challenge: pkce().challenge,
    code_challenge_method: "S256",
    state: "xyz-state",
    scope: "mcp:tools",
    ...extra,
  };
}

function resourceOf(app: AppUnderTest, serverId: string) {
  return `${app.url}/mcp/${serverId}`;
}

async function setup(app: AppUnderTest, page: Page, tools = ["forecast", "alerts", "radar"]) {
  const user = await createUser(app);
  const server = await seedServer(app.dataDir, user.id, "Weather", tools);
  const clientId = await registerClient(app.url, [callback.url]);
  await signIn(page, app, user.email);
  return { user, server, clientId };
}

const alert = (page: Page) => page.getByRole("alert");

test("signing in returns to the same request; the page shows the application, server, tools and scope; Approve sends code, state and iss", async ({ page, app }) => {
  const user = await createUser(app);
  const server = await seedServer(app.dataDir, user.id, "Weather", ["forecast", "alerts"]);
  const clientId = await registerClient(app.url, [callback.url]);
  await page.goto(authorizeUrl(app.url, { ...params(clientId), resource: resourceOf(app, server.id) }));
  await expect(page).toHaveURL(/\/sign-in\?returnTo=/);
  await page.getByLabel("Email").fill(user.email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();

  await expect(page).toHaveTitle("Authorize Application");
  await expect(page.getByRole("heading", { name: "Authorize Application", level: 1 })).toBeVisible();
  expect(new URL(page.url()).search).toMatch(/^\?request=[\w-]+$/);
  await expect(page.getByText("Claude Desktop", { exact: true }).first()).toBeVisible();
  await expect(page.getByTestId("server-name")).toHaveText("Weather");
  await expect(page.getByTestId("scope")).toHaveText("mcp:tools");
  await expect(page.getByTestId("account")).toHaveText(user.email);
  await expect(page.getByRole("checkbox", { name: /forecast/ })).toBeChecked();
  await expect(page.getByRole("checkbox", { name: /alerts/ })).toBeChecked();
  await expect(page.getByText("Description of forecast")).toBeVisible();

  await page.getByRole("button", { name: "Approve" }).click();
  const received = await callback.received;
  expect(received.get("code")).toMatch(/^tgc_/);
  expect(received.get("state")).toBe("xyz-state");
  expect(received.get("iss")).toBe(app.url);
  await expect(page.getByRole("heading", { name: "Back in the application" })).toBeVisible();
  expect((await grantOf(app.dataDir, clientId))?.tools).toEqual(["alerts", "forecast"]);
});

test("per-tool consent: only the ticked tools are granted", async ({ page, app }) => {
  const { server, clientId } = await setup(app, page);
  const response = await page.goto(authorizeUrl(app.url, { ...params(clientId), resource: resourceOf(app, server.id) }));
  // The consent page cannot be framed and is never cached.
  const headers = response!.headers();
  expect(headers["content-security-policy"]).toContain("frame-ancestors 'none'");
  expect(headers["x-frame-options"]).toBe("DENY");
  expect(headers["cache-control"]).toBe("no-store");
  expect(headers["referrer-policy"]).toBe("same-origin");
  await page.getByRole("checkbox", { name: /alerts/ }).uncheck();
  await page.getByRole("button", { name: "Approve" }).click();
  expect((await callback.received).get("code")).toBeTruthy();
  expect((await grantOf(app.dataDir, clientId))?.tools).toEqual(["forecast", "radar"]);
});

test("unticking every tool is refused with a message and grants nothing", async ({ page, app }) => {
  const { server, clientId } = await setup(app, page, ["forecast"]);
  await page.goto(authorizeUrl(app.url, { ...params(clientId), resource: resourceOf(app, server.id) }));
  await page.getByRole("checkbox", { name: /forecast/ }).uncheck();
  await page.getByRole("button", { name: "Approve" }).click();
  await expect(alert(page)).toHaveText("Choose at least one tool the application may use, or deny access.");
  expect(await grantOf(app.dataDir, clientId)).toBeNull();
});

test("Deny tells the application access was denied", async ({ page, app }) => {
  const { server, clientId } = await setup(app, page);
  await page.goto(authorizeUrl(app.url, { ...params(clientId), resource: resourceOf(app, server.id) }));
  await page.getByRole("button", { name: "Deny" }).click();
  const received = await callback.received;
  expect(received.get("error")).toBe("access_denied");
  expect(received.get("state")).toBe("xyz-state");
  expect(received.get("iss")).toBe(app.url);
  expect(received.has("code")).toBe(false);
  expect(await grantOf(app.dataDir, clientId)).toBeNull();
});

test('"The application redirect URL is no longer valid." stays on our page', async ({ page, app }) => {
  const { clientId } = await setup(app, page);
  await page.goto(authorizeUrl(app.url, { ...params(clientId), redirect_uri: "http://127.0.0.1:9/elsewhere" }));
  await expect(page).toHaveTitle("Authorize Application");
  await expect(alert(page)).toHaveText("The application redirect URL is no longer valid.");
  expect(new URL(page.url()).origin).toBe(app.url);
});

test('"This authorization request expired."', async ({ page, app }) => {
  const { server, clientId } = await setup(app, page);
  await page.goto(authorizeUrl(app.url, { ...params(clientId), resource: resourceOf(app, server.id) }));
  const requestId = new URL(page.url()).searchParams.get("request")!;
  await expireRequest(app.dataDir, requestId);
  await page.getByRole("button", { name: "Approve" }).click();
  await expect(page.getByRole("heading", { name: "Authorize Application", level: 1 })).toBeVisible();
  await expect(alert(page)).toHaveText("This authorization request expired.");
  await page.reload();
  await expect(alert(page)).toHaveText("This authorization request expired.");
  expect(await grantOf(app.dataDir, clientId)).toBeNull();
});

test('"You must be signed in to continue." after signing out in another tab', async ({ page, app, context }) => {
  const { user, server, clientId } = await setup(app, page);
  await page.goto(authorizeUrl(app.url, { ...params(clientId), resource: resourceOf(app, server.id) }));
  await expect(page.getByRole("button", { name: "Approve" })).toBeVisible();
  const requestUrl = page.url();
  const other = await context.newPage();
  await other.goto(app.url);
  await other.getByRole("button", { name: "Sign out" }).click();
  await expect(other).toHaveURL(/\/sign-in/);
  await other.close();

  await page.getByRole("button", { name: "Approve" }).click();
  await expect(alert(page)).toHaveText("You must be signed in to continue.");
  expect(await grantOf(app.dataDir, clientId)).toBeNull();
  // Signing in again leads back to the same request.
  await page.getByRole("link", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/sign-in\?returnTo=%2Fauthorize%3Frequest%3D/);
  await page.getByLabel("Email").fill(user.email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(requestUrl);
  await page.getByRole("button", { name: "Approve" }).click();
  expect((await callback.received).get("code")).toMatch(/^tgc_/);
});

test('"You do not have access to this MCP server."', async ({ page, app }) => {
  const owner = await createUser(app);
  const server = await seedServer(app.dataDir, owner.id, "Private", ["secret"]);
  const clientId = await registerClient(app.url, [callback.url]);
  const intruder = await createUser(app);
  await signIn(page, app, intruder.email);
  await page.goto(authorizeUrl(app.url, { ...params(clientId), resource: resourceOf(app, server.id) }));
  await expect(alert(page)).toHaveText("You do not have access to this MCP server.");
  await expect(page.getByRole("button", { name: "Approve" })).toHaveCount(0);
  await expect(page.getByText("secret")).toHaveCount(0);
});

test("without a resource the user chooses a server, sees its tools, and the code is for that server", async ({ page, app }) => {
  const user = await createUser(app);
  await seedServer(app.dataDir, user.id, "Alpha", ["a-one"]);
  const beta = await seedServer(app.dataDir, user.id, "Beta", ["b-one", "b-two"]);
  const clientId = await registerClient(app.url, [callback.url]);
  await signIn(page, app, user.email);
  await page.goto(authorizeUrl(app.url, params(clientId)));
  await expect(page.getByRole("radio", { name: "Alpha" })).toBeChecked();
  await expect(page.getByRole("checkbox", { name: /a-one/ })).toBeVisible();
  await page.getByRole("radio", { name: "Beta" }).check();
  // With JavaScript the choice reloads the tool list by itself; without, "Show tools" does.
  await page.getByRole("button", { name: "Show tools" }).click();
  await expect(page.getByTestId("tools-server-name")).toHaveText("Beta");
  await expect(page.getByRole("checkbox", { name: /b-two/ })).toBeChecked();
  await expect(page.getByRole("checkbox", { name: /a-one/ })).toHaveCount(0);
  await page.getByRole("button", { name: "Approve" }).click();
  expect((await callback.received).get("code")).toBeTruthy();
  expect(await grantOf(app.dataDir, clientId)).toEqual({ tools: ["b-one", "b-two"], codeServers: [beta.id] });
});

test("a self-registered client with a loopback redirect is marked Unverified and warned about", async ({ page, app }) => {
  const { server, clientId } = await setup(app, page);
  await page.goto(authorizeUrl(app.url, { ...params(clientId), resource: resourceOf(app, server.id) }));
  await expect(page.getByText("Unverified", { exact: true })).toBeVisible();
  await expect(page.getByTestId("returns-to")).toHaveText(`this computer (port ${new URL(callback.url).port})`);
  await expect(page.getByTestId("redirect-warning")).toContainText("The authorization goes to a program on this computer");
});

test("an app-link redirect lands on Authorization Complete with a link that hands over the code", async ({ page, app }) => {
  const user = await createUser(app);
  const server = await seedServer(app.dataDir, user.id, "Weather", ["forecast"]);
  const appLink = "com.example.toolgate-test:/oauth/callback";
  const clientId = await registerClient(app.url, [appLink], "Desktop App");
  await signIn(page, app, user.email);
  await page.goto(authorizeUrl(app.url, { ...params(clientId), redirect_uri: appLink, resource: resourceOf(app, server.id) }));
  await expect(page.getByTestId("redirect-warning")).toContainText("The authorization goes to an app link");
  await page.getByRole("button", { name: "Approve" }).click();
  await expect(page.getByRole("heading", { name: "Authorization Complete", level: 1 })).toBeVisible();
  await expect(page.getByRole("status")).toContainText("You allowed Desktop App to use Weather.");
  const href = await page.getByTestId("return-link").getAttribute("href");
  const handed = new URL(href!);
  expect(`${handed.protocol}${handed.pathname}`).toBe(appLink);
  expect(handed.searchParams.get("code")).toMatch(/^tgc_/);
  expect(handed.searchParams.get("state")).toBe("xyz-state");
  expect(handed.searchParams.get("iss")).toBe(app.url);
  // The automatic hand-over works without JavaScript: a meta refresh to the same URL.
  expect(await page.locator('meta[http-equiv="refresh"]').getAttribute("content")).toBe(`3;url=${href}`);
});

test("a client name with markup is shown as text, never run", async ({ page, app }) => {
  const user = await createUser(app);
  const server = await seedServer(app.dataDir, user.id, "Weather", ["forecast"]);
  const name = `<img src=x onerror="document.title='pwned'"><script>document.title='pwned'</script>`;
  const clientId = await registerClient(app.url, [callback.url], name);
  await signIn(page, app, user.email);
  await page.goto(authorizeUrl(app.url, { ...params(clientId), resource: resourceOf(app, server.id) }));
  await expect(page.locator(".consent-client").getByText(name, { exact: true })).toBeVisible();
  await expect(page.locator("main img")).toHaveCount(0);
  await expect(page).toHaveTitle("Authorize Application");
});

test("a stored client name with a direction override does not reorder the page's own words", async ({ page, app }) => {
  const user = await createUser(app);
  const server = await seedServer(app.dataDir, user.id, "Weather", ["forecast"]);
  const clientId = await registerClient(app.url, [callback.url], "Placeholder");
  // Registration refuses such names now; a row from before the rule may still hold one.
  await renameClient(app.dataDir, clientId, "Evil\u202E resu");
  await signIn(page, app, user.email);
  await page.goto(authorizeUrl(app.url, { ...params(clientId), resource: resourceOf(app, server.id) }));
  const lead = page.locator(".consent-lead");
  await expect(lead).toContainText("wants to use tools on your MCP server.");
  // Where the browser drew each word: in reading order (line by line, left to right), as written.
  const boxes = await lead.evaluate((el) => {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    const at = (word: string) => {
      for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        const i = n.textContent!.indexOf(word);
        if (i >= 0) {
          const range = document.createRange();
          range.setStart(n, i);
          range.setEnd(n, i + word.length);
          walker.currentNode = el;
          const box = range.getBoundingClientRect();
          return { line: Math.round(box.top), left: box.left };
        }
      }
      walker.currentNode = el;
      return { line: NaN, left: NaN };
    };
    return [at("wants"), at("tools"), at("server.")];
  });
  const before = (a: { line: number; left: number }, b: { line: number; left: number }) => a.line < b.line || (a.line === b.line && a.left < b.left);
  expect(before(boxes[0]!, boxes[1]!), JSON.stringify(boxes)).toBe(true);
  expect(before(boxes[1]!, boxes[2]!), JSON.stringify(boxes)).toBe(true);
  await expect(lead.locator("bdi")).toHaveText("Evil\uFFFD resu");
});
