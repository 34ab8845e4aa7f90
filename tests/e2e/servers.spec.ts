import { createUser, expect, javaScriptOn, signIn, test } from "./fixtures";

test.describe("MCP servers and tools", () => {
  test("create a server with a tool, edit both, delete both", async ({ page, app }) => {
    const { email } = await createUser(app);
    await signIn(page, app, email);
    await expect(page.getByRole("heading", { name: "Your MCP servers" })).toBeVisible();

    // Create: an empty name is refused next to the field and the description is kept.
    await page.getByRole("link", { name: "New server" }).click();
    await page.getByLabel("Description (optional)").fill("Forecasts for the team");
    await page.getByRole("button", { name: "Create server" }).click();
    await expect(page.getByText("Enter a name.")).toBeVisible();
    await expect(page.getByLabel("Name")).toHaveAttribute("aria-invalid", "true");
    await expect(page.getByLabel("Description (optional)")).toHaveValue("Forecasts for the team");
    await page.getByLabel("Name").fill("Weather desk");
    await page.getByRole("button", { name: "Create server" }).click();

    await expect(page.getByRole("heading", { name: "Weather desk", level: 1 })).toBeVisible();
    const serverUrl = new URL(page.url());
    const serverId = serverUrl.pathname.split("/")[2]!;
    await expect(page.getByLabel("MCP URL")).toHaveValue(`${app.url}/mcp/${serverId}`);
    await expect(page.getByText(`claude mcp add --transport http weather-desk ${app.url}/mcp/${serverId}`)).toBeVisible();
    // The signing secret is shown once, right after creation.
    const secret = await page.getByRole("textbox", { name: "Signing secret" }).inputValue();
    expect(secret).toMatch(/^tgs_[A-Za-z0-9_-]{43}$/);
    await page.reload();
    await expect(page.getByRole("textbox", { name: "Signing secret" })).toHaveCount(0);

    // Add a tool: a bad name and a non-object schema are refused, the other values are kept.
    await page.getByRole("link", { name: "Add tool" }).click();
    await page.getByLabel("Name").fill("get forecast!");
    await page.getByLabel("Description").fill("Forecast for a city");
    await page.getByLabel("Input schema (JSON Schema)").fill('{"type": "string"}');
    await page.getByLabel("Endpoint URL").fill("ftp://example.test/forecast");
    await page.getByRole("button", { name: "Add tool" }).click();
    await expect(page.getByText("Use only letters, digits, underscore (_), hyphen (-) and dot (.).")).toBeVisible();
    await expect(page.getByText('The input schema must have "type": "object".')).toBeVisible();
    await expect(page.getByText("The URL must start with http:// or https://.")).toBeVisible();
    await expect(page.getByLabel("Description")).toHaveValue("Forecast for a city");

    await page.getByLabel("Name").fill("get_forecast");
    await page.getByLabel("Input schema (JSON Schema)").fill('{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}');
    await page.getByLabel("Endpoint URL").fill("https://tools.example.test/forecast");
    await page.getByLabel("Extra headers (optional)").fill("Authorization: Bearer upstream-key");
    await page.getByRole("button", { name: "Add tool" }).click();
    await expect(page.getByText("Added the tool get_forecast.")).toBeVisible();
    const tools = page.getByRole("list", { name: "Tools" });
    await expect(tools.getByRole("heading", { name: "get_forecast" })).toBeVisible();
    await expect(tools.getByText("https://tools.example.test/forecast")).toBeVisible();

    // A second tool with the same name is refused.
    await page.getByRole("link", { name: "Add tool" }).click();
    await page.getByLabel("Name").fill("get_forecast");
    await page.getByLabel("Endpoint URL").fill("https://tools.example.test/other");
    await page.getByRole("button", { name: "Add tool" }).click();
    await expect(page.getByText("A tool named get_forecast already exists on this server.")).toBeVisible();
    await page.getByRole("link", { name: "Cancel" }).click();

    // Edit the tool: the form shows the stored values, including the headers.
    await page.getByRole("link", { name: "Edit get_forecast" }).click();
    await expect(page.getByLabel("Extra headers (optional)")).toHaveValue("Authorization: Bearer upstream-key");
    await page.getByLabel("Name").fill("forecast.daily");
    await page.getByLabel("Method").selectOption("PUT");
    await page.getByRole("button", { name: "Save tool" }).click();
    await expect(page.getByText("Saved the tool forecast.daily.")).toBeVisible();
    await expect(tools.getByRole("heading", { name: "forecast.daily" })).toBeVisible();
    await expect(tools.getByText("PUT", { exact: true })).toBeVisible();

    // Edit the server.
    await page.getByRole("link", { name: "Edit server" }).click();
    await page.getByLabel("Name").fill("");
    await page.getByRole("button", { name: "Save" }).click();
    await expect(page.getByText("Enter a name.")).toBeVisible();
    await page.getByLabel("Name").fill("Weather office");
    await page.getByRole("button", { name: "Save" }).click();
    await expect(page.getByRole("heading", { name: "Weather office", level: 1 })).toBeVisible();

    // Rotate the signing secret (it asks first: a dialog with JavaScript, a page without): a new one is shown once.
    const js = javaScriptOn();
    await page.getByRole(js ? "button" : "link", { name: "Rotate signing secret" }).click();
    await (js ? page.getByRole("dialog") : page.locator("main")).getByRole("button", { name: "Rotate signing secret" }).click();
    const rotated = await page.getByRole("textbox", { name: "Signing secret" }).inputValue();
    expect(rotated).toMatch(/^tgs_/);
    expect(rotated).not.toBe(secret);

    // Delete the tool, with a confirmation step.
    await page.getByRole("link", { name: "Delete forecast.daily" }).click();
    await expect(page.getByRole("heading", { name: "Delete the tool forecast.daily?" })).toBeVisible();
    await page.getByRole("button", { name: "Delete tool" }).click();
    await expect(page.getByText("Deleted the tool forecast.daily.")).toBeVisible();
    await expect(page.getByText("No tools yet.")).toBeVisible();

    // Delete the server: Cancel keeps it, Delete removes it.
    await page.getByRole("link", { name: "Delete server" }).click();
    await page.getByRole("link", { name: "Cancel" }).click();
    await expect(page.getByRole("heading", { name: "Weather office", level: 1 })).toBeVisible();
    await page.getByRole("link", { name: "Delete server" }).click();
    await page.getByRole("button", { name: "Delete server" }).click();
    await expect(page.getByText("Deleted Weather office.")).toBeVisible();
    await expect(page.getByRole("heading", { name: "Your MCP servers" })).toBeVisible();
    await expect(page.getByRole("link", { name: "Weather office" })).toHaveCount(0);

    const gone = await page.goto(`${app.url}/servers/${serverId}`);
    expect(gone?.status()).toBe(404);
  });

  test("someone else's server answers 404 on every page", async ({ page, app, browser }) => {
    const alice = await createUser(app);
    const bob = await createUser(app);
    await signIn(page, app, alice.email);
    await page.getByRole("link", { name: "New server" }).click();
    await page.getByLabel("Name").fill("Alice's private tools");
    await page.getByRole("button", { name: "Create server" }).click();
    await page.getByRole("link", { name: "Add tool" }).click();
    await page.getByLabel("Name").fill("lookup");
    await page.getByLabel("Endpoint URL").fill("https://tools.example.test/lookup");
    await page.getByRole("button", { name: "Add tool" }).click();
    await expect(page.getByText("Added the tool lookup.")).toBeVisible();
    const serverPath = new URL(page.url()).pathname;
    const editToolHref = await page.getByRole("link", { name: "Edit lookup" }).getAttribute("href");

    const other = await browser.newContext({ javaScriptEnabled: javaScriptOn() });
    const bobPage = await other.newPage();
    await signIn(bobPage, app, bob.email);
    for (const path of [serverPath, `${serverPath}/edit`, `${serverPath}/delete`, `${serverPath}/tools/new`, editToolHref!, `${editToolHref}/delete`]) {
      const response = await bobPage.goto(`${app.url}${path}`);
      expect(response?.status(), path).toBe(404);
      await expect(bobPage.getByRole("heading", { name: "Page not found" })).toBeVisible();
      await expect(bobPage.getByText("Alice's private tools")).toHaveCount(0);
    }
    await bobPage.goto(app.url);
    await expect(bobPage.getByText("Alice's private tools")).toHaveCount(0);
    await other.close();
  });
});
