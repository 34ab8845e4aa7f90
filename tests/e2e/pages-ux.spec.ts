import type { Page } from "@playwright/test";
import { createUser, expect, javaScriptOn, PASSWORD, signIn, test, type AppUnderTest } from "./fixtures";
import { revocationState, seedConnection, type SeededGrant } from "./access-data";
import { withAppDb } from "../helpers/app-db";
import { authorizeUrl, pkce, registerClient, seedServer } from "./authorize-data";

// Runs with JavaScript on and off (playwright.config.ts projects). With JavaScript a destructive
// control opens a <dialog>; without it, it leads to a confirmation page. Either way nothing happens
// until the confirming button is pressed.

const jsOn = () => javaScriptOn();

/** The control that starts a destructive action: a button (dialog) with JavaScript, a link without. */
function destructive(page: Page, name: string | RegExp) {
  return page.getByRole(jsOn() ? "button" : "link", { name });
}

/** Asserts the confirmation (dialog or page) says `consequence`, then confirms with `confirm`. */
async function confirmWith(page: Page, consequence: string | RegExp, confirm: string) {
  if (jsOn()) {
    const dialog = page.getByRole("dialog");
    await expect(dialog).toBeVisible();
    await expect(dialog).toContainText(consequence);
    await dialog.getByRole("button", { name: confirm, exact: true }).click();
  } else {
    await expect(page.getByRole("heading", { level: 1 })).toContainText("?");
    await expect(page.locator("main")).toContainText(consequence);
    await page.getByRole("button", { name: confirm, exact: true }).click();
  }
}

/** Asserts the confirmation is shown, then backs out. */
async function cancel(page: Page) {
  if (jsOn()) {
    await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
    await expect(page.getByRole("dialog")).toHaveCount(0);
  } else {
    await page.getByRole("link", { name: "Cancel" }).click();
  }
}

async function seedTwenty(app: AppUnderTest, ownerId: string) {
  const first = await seedConnection(app.dataDir, {
    ownerId,
    serverName: "Weather",
    clientName: "MCP Inspector",
    tools: ["forecast", "radar"],
    granted: ["forecast"],
    ageMs: 3_600_000,
  });
  const all: SeededGrant[] = [first];
  for (let i = 1; i < 20; i++) {
    all.push(
      await seedConnection(app.dataDir, {
        ownerId,
        serverName: "Weather",
        clientName: "MCP Inspector",
        tools: [],
        granted: ["forecast"],
        server: { id: first.serverId, toolIds: first.toolIds },
        ageMs: i * 1000,
      }),
    );
  }
  return all;
}

test("twenty registrations of one application read as one group; search, revoke one, revoke all", async ({ page, app }) => {
  const user = await createUser(app);
  const grants = await seedTwenty(app, user.id);
  // Same name, another redirect host: a different program, shown apart.
  const impostor = await seedConnection(app.dataDir, {
    ownerId: user.id,
    serverName: "Notes",
    clientName: "MCP Inspector",
    tools: ["search"],
    granted: ["search"],
    redirectUri: "https://inspector.evil.example/cb",
  });
  const other = await seedConnection(app.dataDir, { ownerId: user.id, serverName: "Mail", clientName: "Claude Code", tools: ["send"], granted: ["send"] });
  await signIn(page, app, user.email);
  await page.goto(`${app.url}/connections`);

  const groups = page.getByRole("list", { name: "Connected applications" }).locator(":scope > li");
  await expect(groups).toHaveCount(3);
  const inspector = groups.filter({ hasText: "20 registrations" });
  await expect(inspector).toHaveCount(1);
  await expect(inspector.getByRole("heading", { name: "MCP Inspector" })).toBeVisible();
  await expect(inspector.getByTestId("group-summary")).toContainText("Self-registered · 20 registrations · 20 devices · Weather · last used");
  // Inner padding: the heading does not touch the card's edge.
  const card = await inspector.boundingBox();
  const heading = await inspector.getByRole("heading", { name: "MCP Inspector" }).boundingBox();
  expect(heading!.x - card!.x).toBeGreaterThanOrEqual(12);
  expect(heading!.y - card!.y).toBeGreaterThanOrEqual(12);

  // Expand: each registration with its redirect host, first authorization and last use.
  await inspector.getByText("Show 20 authorizations").click();
  const entries = inspector.locator("[data-grant-id]");
  await expect(entries).toHaveCount(20);
  await expect(entries.first()).toContainText("127.0.0.1:33418");
  await expect(entries.first()).toContainText("First authorized");
  await expect(entries.first()).toContainText("Last used");
  await expect(entries.first().locator("time").first()).toHaveAttribute("datetime", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/);

  // Search by name is a GET form.
  await page.getByRole("searchbox", { name: "Application name" }).fill("claude");
  await page.getByRole("button", { name: "Search" }).click();
  await expect(page).toHaveURL(/[?&]q=claude/);
  await expect(groups).toHaveCount(1);
  await expect(groups.first().getByRole("heading", { name: "Claude Code" })).toBeVisible();
  await page.goto(`${app.url}/connections`);

  // Revoke one entry: asks first, naming the application and the server; Cancel changes nothing.
  const newest = grants[1]!; // ageMs 1000: the most recently used, listed first
  await inspector.getByText("Show 20 authorizations").click();
  await destructive(page, /Revoke access for MCP Inspector to Weather, authorization 1$/).click();
  if (jsOn()) await expect(page.getByRole("dialog")).toContainText("MCP Inspector will lose access to Weather");
  await cancel(page);
  expect((await revocationState(app.dataDir, newest)).grant.revoked_at).toBeNull();
  if (!jsOn()) await inspector.getByText("Show 20 authorizations").click();
  await destructive(page, /Revoke access for MCP Inspector to Weather, authorization 1$/).click();
  await confirmWith(page, /MCP Inspector will lose access to Weather; its tokens stop working at once and it has to ask you again\./, "Revoke access");
  await expect(page.getByRole("status")).toHaveText("Access revoked for MCP Inspector. Its tokens no longer work.");
  expect((await revocationState(app.dataDir, newest)).grant.revoked_at).not.toBeNull();
  await expect(page.getByText("19 registrations")).toBeVisible();

  // Revoke all: every remaining registration of that application, nothing else.
  await destructive(page, "Revoke all access for MCP Inspector").first().click();
  await confirmWith(page, "MCP Inspector will lose access to Weather (all 19 of its authorizations)", "Revoke all");
  await expect(page.getByRole("status")).toHaveText("Access revoked for MCP Inspector (19 authorizations). Its tokens no longer work.");
  for (const g of grants) expect((await revocationState(app.dataDir, g)).access).not.toBeNull();
  expect((await revocationState(app.dataDir, impostor)).access).toBeNull();
  expect((await revocationState(app.dataDir, other)).access).toBeNull();
  await expect(groups).toHaveCount(2);
});

test("the Activity filter lists one application once; times carry seconds and say UTC without JavaScript", async ({ browser, app }) => {
  const user = await createUser(app);
  const grants = await seedTwenty(app, user.id);
  // One audit event per registration, as twenty days of testing leave behind.
  const at = Date.UTC(2026, 0, 31, 14, 5, 9);
  await withAppDb(app.dataDir, async (db) => {
    for (const g of grants) {
      await db.run(
        "insert into audit_events (at, kind, server_id, user_id, client_id, grant_id, actor, detail) values (?, 'tool.called', ?, ?, ?, ?, ?, ?)",
        at,
        g.serverId,
        user.id,
        g.clientId,
        g.grantId,
        `client:${g.clientId}`,
        JSON.stringify({ tool: "forecast", outcome: "invalid_arguments", durationMs: 0 }),
      );
    }
  });
  const context = await browser.newContext({ javaScriptEnabled: jsOn(), timezoneId: "Asia/Tokyo" });
  const page = await context.newPage();
  await signIn(page, app, user.email);
  await page.goto(`${app.url}/servers/${grants[0]!.serverId}/activity`);
  const options = page.getByLabel("Application").locator("option");
  await expect(options).toHaveText(["All applications", "MCP Inspector (20 registrations)"]);
  await page.getByLabel("Application").selectOption({ label: "MCP Inspector (20 registrations)" });
  await page.getByRole("button", { name: "Filter" }).click();
  await expect(page.getByRole("row")).toHaveCount(21);
  const row = page.getByRole("row").nth(1);
  await expect(row).toContainText("refused: arguments did not match the schema (the endpoint was not called)");
  await expect(row).not.toContainText("0 ms");
  const time = row.locator("time");
  await expect(time).toHaveAttribute("datetime", "2026-01-31T14:05:09.000Z");
  if (jsOn()) await expect(time).toContainText("23:05:09"); // the reader's zone (Tokyo, UTC+9)
  else await expect(time).toHaveText("2026-01-31 14:05:09 UTC");
  const box = await time.boundingBox();
  expect(box!.height).toBeLessThan(30); // one line
  await context.close();
});

test("Rotate signing secret asks first and says every endpoint must be updated", async ({ page, app }) => {
  const user = await createUser(app);
  await signIn(page, app, user.email);
  await page.goto(`${app.url}/servers/new`);
  await page.getByLabel("Name").fill("Rotating");
  await page.getByRole("button", { name: "Create server" }).click();
  const first = await page.getByRole("textbox", { name: "Signing secret" }).inputValue();
  await page.goto(page.url().split("#")[0]!);
  await destructive(page, "Rotate signing secret").click();
  await cancel(page);
  await expect(page.getByRole("textbox", { name: "Signing secret" })).toHaveCount(0);
  await destructive(page, "Rotate signing secret").click();
  await confirmWith(page, /must be updated with the new secret before the next call/, "Rotate signing secret");
  const second = await page.getByRole("textbox", { name: "Signing secret" }).inputValue();
  expect(second).toMatch(/^tgs_/);
  expect(second).not.toBe(first);
});

for (const colorScheme of ["light", "dark"] as const) {
  test(`on a phone (390×844, ${colorScheme}) Approve and Deny are on screen without scrolling, with every tool listed`, async ({ browser, app }) => {
    const user = await createUser(app);
    const tools = Array.from({ length: 12 }, (_, i) => `tool_${String(i).padStart(2, "0")}`);
    const server = await seedServer(app.dataDir, user.id, "Calendar", tools);
    const clientId = await registerClient(app.url, ["http://127.0.0.1:33418/callback"], "Claude Code");
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme, javaScriptEnabled: jsOn(), isMobile: true, hasTouch: true });
    const page = await context.newPage();
    const url = authorizeUrl(app.url, {
      response_type: "code",
      client_id: clientId,
      redirect_uri: "http://127.0.0.1:33418/callback",
      code_challenge: pkce().challenge,
      code_challenge_method: "S256",
      state: "phone",
      resource: `${app.url}/mcp/${server.id}`,
    });
    await page.goto(url);
    // Signed out: the sign-in page says why.
    await expect(page.getByTestId("sign-in-context")).toHaveText("Sign in to continue to Authorize Application: Claude Code wants to use Calendar.");
    await page.getByLabel("Email").fill(user.email);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByRole("heading", { name: "Authorize Application" })).toBeVisible();
    expect(await page.evaluate(() => window.scrollY)).toBe(0);
    for (const name of ["Approve", "Deny"]) {
      const box = (await page.getByRole("button", { name }).boundingBox())!;
      expect(box.y, name).toBeGreaterThanOrEqual(0);
      expect(box.y + box.height, name).toBeLessThanOrEqual(844);
      await expect(page.getByRole("button", { name })).toBeInViewport();
    }
    // The header stays compact (one line).
    const header = (await page.locator(".site-header").boundingBox())!;
    expect(header.height).toBeLessThanOrEqual(60);
    // Every tool is listed and can be read by scrolling; the bar stays in view meanwhile.
    await expect(page.getByRole("checkbox")).toHaveCount(12);
    await page.getByRole("checkbox", { name: /tool_11/ }).scrollIntoViewIfNeeded();
    await expect(page.getByRole("checkbox", { name: /tool_11/ })).toBeInViewport();
    await expect(page.getByRole("button", { name: "Approve" })).toBeInViewport();
    await context.close();
  });
}

test("no access: the page names the signed-in account and Use another account returns to the same request", async ({ page, app }) => {
  const owner = await createUser(app);
  const stranger = await createUser(app);
  const server = await seedServer(app.dataDir, owner.id, "Weather", ["forecast"]);
  const clientId = await registerClient(app.url, ["http://127.0.0.1:33418/callback"]);
  await signIn(page, app, stranger.email);
  await page.goto(
    authorizeUrl(app.url, {
      response_type: "code",
      client_id: clientId,
      redirect_uri: "http://127.0.0.1:33418/callback",
      code_challenge: pkce().challenge,
      code_challenge_method: "S256",
      resource: `${app.url}/mcp/${server.id}`,
    }),
  );
  await expect(page.getByRole("alert")).toContainText("You do not have access to this MCP server.");
  await expect(page.getByTestId("account")).toHaveText(stranger.email);
  await expect(page.getByRole("link", { name: "What this means and what to do" })).toHaveAttribute("href", "/help/troubleshooting");
  const requestUrl = page.url();
  await page.getByRole("button", { name: "Use another account" }).click();
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  await expect(page.getByTestId("sign-in-context")).toContainText("Claude Desktop wants to use Weather");
  await page.getByLabel("Email").fill(owner.email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("button", { name: "Approve" })).toBeVisible();
  expect(page.url()).toBe(requestUrl);
});

test("an invalid redirect URL keeps its words and says which address was asked for", async ({ page, app }) => {
  const user = await createUser(app);
  const server = await seedServer(app.dataDir, user.id, "Weather", ["forecast"]);
  const clientId = await registerClient(app.url, ["http://127.0.0.1:33418/callback"]);
  await signIn(page, app, user.email);
  await page.goto(
    authorizeUrl(app.url, {
      response_type: "code",
      client_id: clientId,
      redirect_uri: "https://attacker.example/steal",
      code_challenge: pkce().challenge,
      code_challenge_method: "S256",
      resource: `${app.url}/mcp/${server.id}`,
    }),
  );
  await expect(page.getByRole("alert")).toContainText("The application redirect URL is no longer valid.");
  await expect(page.getByTestId("requested-redirect-uri")).toHaveText("https://attacker.example/steal");
});

test("after “Choose at least one tool”, the ticks are as they were left", async ({ page, app }) => {
  const user = await createUser(app);
  const server = await seedServer(app.dataDir, user.id, "Weather", ["alerts", "forecast", "radar"]);
  const clientId = await registerClient(app.url, ["http://127.0.0.1:33418/callback"]);
  await signIn(page, app, user.email);
  await page.goto(
    authorizeUrl(app.url, {
      response_type: "code",
      client_id: clientId,
      redirect_uri: "http://127.0.0.1:33418/callback",
      code_challenge: pkce().challenge,
      code_challenge_method: "S256",
      resource: `${app.url}/mcp/${server.id}`,
    }),
  );
  for (const name of ["alerts", "forecast", "radar"]) await page.getByRole("checkbox", { name: new RegExp(name) }).uncheck();
  await page.getByRole("button", { name: "Approve" }).click();
  await expect(page.getByRole("alert")).toHaveText("Choose at least one tool the application may use, or deny access.");
  for (const name of ["alerts", "forecast", "radar"]) await expect(page.getByRole("checkbox", { name: new RegExp(name) })).not.toBeChecked();
});
