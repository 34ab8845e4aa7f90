/**
 * OpenAPI import through the web UI, the API credential set on the server's page, the consent page
 * marking the tools that change data, and the real MCP SDK client calling a local REST server
 * (part of the Petstore) through Toolgate: path, query and header parameters, a JSON body, an API
 * key that reaches the upstream and nothing else. Runs with JavaScript on and off (two projects).
 */
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type { Page } from "@playwright/test";
import { callbackInBrowser, startCallback } from "./authorize-data";
import { createUser, expect, PASSWORD, test } from "./fixtures";
import { expectAuthorizationRequired, finishAuthorization, MemoryProvider } from "./mcp-client-harness";

const DOC = fs.readFileSync(path.resolve(import.meta.dirname, "../fixtures/openapi/petstore-local.yaml"), "utf8");
const API_KEY = "petstore-key-E2E-7f3a";

type Seen = { method: string; url: string; headers: http.IncomingHttpHeaders; body: string };

/** Part of the Petstore on 127.0.0.1, requiring the API key; records what it receives. */
async function startPetstore() {
  const seen: Seen[] = [];
  const pets = new Map<string, { id: number; name: string; tag?: string }>([["1", { id: 1, name: "Rex", tag: "dog" }]]);
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      const send = (status: number, value?: unknown) => {
        res.writeHead(status, value === undefined ? {} : { "Content-Type": "application/json" });
        res.end(value === undefined ? undefined : JSON.stringify(value));
      };
      if (req.headers["x-api-key"] !== API_KEY) return send(401, { error: "missing or wrong API key" });
      const url = new URL(req.url!, "http://x");
      const match = /^\/v1\/pets\/([^/]+)$/.exec(url.pathname);
      if (req.method === "GET" && url.pathname === "/v1/pets") {
        const limit = Number(url.searchParams.get("limit") ?? 10);
        const tags = url.searchParams.get("tags")?.split(",");
        const items = [...pets.values()].filter((p) => !tags || tags.includes(p.tag ?? "")).slice(0, limit);
        return send(200, { items });
      }
      if (req.method === "POST" && url.pathname === "/v1/pets") {
        const input = JSON.parse(body) as { name: string; tag?: string };
        const pet = { id: pets.size + 1, ...input };
        pets.set(String(pet.id), pet);
        return send(201, pet);
      }
      if (match && req.method === "GET") {
        const pet = pets.get(decodeURIComponent(match[1]!));
        return pet ? send(200, pet) : send(404, { error: "no such pet" });
      }
      if (match && req.method === "DELETE") return pets.delete(decodeURIComponent(match[1]!)) ? send(204) : send(404, { error: "no such pet" });
      send(404, { error: "not found" });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A server on another origin: any request it gets proves nothing leaked there, or does. */
async function startDecoy() {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      res.writeHead(200, { "Content-Type": "application/json" }).end('{"decoy":true}');
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, seen, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function signIn(page: Page, appUrl: string, email: string) {
  await page.goto(`${appUrl}/sign-in`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).not.toHaveURL(/sign-in/);
}

test.describe.configure({ timeout: 180_000 });

test("OpenAPI import in the web UI, API key on the server page, SDK client calls the REST API through Toolgate", async ({ page, app }) => {
  const user = await createUser(app);
  const petstore = await startPetstore();
  const decoy = await startDecoy();
  const callback = await startCallback();
  let client: Awaited<ReturnType<typeof finishAuthorization>> | null = null;
  try {
    const created = await app.cli(["server", "create", "--owner", user.email, "--name", "Petstore", "--json"]);
    const server = JSON.parse(created.stdout.trim().split("\n").at(-1)!) as { id: string; mcpUrl: string };
    // A hand-made tool on another origin: it must never receive the API key.
    const decoyTool = await app.cli([
      "tool", "add", "--server", server.id, "--name", "decoy", "--url", `${decoy.url}/hook`, "--annotations", '{"readOnlyHint":false,"destructiveHint":false}',
    ]);
    expect(decoyTool.code, decoyTool.stderr).toBe(0);

    await signIn(page, app.url, user.email);
    await page.goto(`${app.url}/servers/${server.id}/import`);
    await page.getByLabel("Or paste it").fill(DOC);
    await page.getByRole("button", { name: "Preview operations" }).click();
    await expect(page.getByText("Local Petstore")).toBeVisible();
    const rows = page.getByTestId("import-operation");
    await expect(rows).toHaveCount(5);
    await expect(rows.filter({ hasText: "uploadPhoto" })).toContainText("Cannot import: it takes a multipart upload");
    // The filter is a plain GET form.
    await page.getByLabel("Filter operations").fill("specific pet");
    await page.getByRole("button", { name: "Filter" }).click();
    await expect(page).toHaveURL(/[?&]q=specific\+pet/);
    await expect(rows).toHaveCount(1);
    await expect(rows.first()).toContainText("showPetById");
    await page.getByLabel("Filter operations").fill("");
    await page.getByRole("button", { name: "Filter" }).click();
    await expect(rows).toHaveCount(5);
    // The document's server is a placeholder; the API runs locally.
    await page.getByLabel("Another URL:").check();
    await page.getByLabel("Another base URL").fill(`${petstore.url}/v1`);
    await page.getByRole("button", { name: "Import selected operations" }).click();
    await expect(page.getByText("Imported from OpenAPI: 4 added, 0 changed, 0 removed, 0 unchanged.")).toBeVisible();

    // The API key, on the server page; shown once as how it is sent, never as its value.
    await page.getByLabel("Credential type").selectOption("api-key");
    await page.getByLabel("API key sent in").selectOption("header");
    await page.getByLabel("API key header or query parameter").fill("X-API-Key");
    await page.getByLabel("Secret (key, token or password)").fill(API_KEY);
    await page.getByRole("button", { name: "Save upstream API" }).click();
    await expect(page.getByTestId("api-credential")).toContainText("API key in the header X-API-Key");
    expect(await page.content()).not.toContain(API_KEY);

    // The SDK client, after consent; the consent page marks what each tool does to data.
    const provider = new MemoryProvider(callback.url, { clientName: "REST E2E Client", page });
    provider.handOff = true;
    await expectAuthorizationRequired(provider, server.mcpUrl, "rest-e2e");
    await provider.opened;
    await expect(page.getByRole("heading", { name: "Authorize Application" })).toBeVisible();
    const effect = (tool: string) => page.locator("li", { hasText: tool }).getByTestId("tool-effect");
    await expect(effect("listPets")).toHaveText("Only reads");
    await expect(effect("showPetById")).toHaveText("Only reads");
    await expect(effect("createPet")).toHaveText("Can change or delete data");
    await expect(effect("deletePet")).toHaveText("Can change or delete data");
    await expect(effect("decoy")).toHaveText("Can change data");
    await expect(page.getByTestId("tool-effect-summary")).toHaveText("3 of these 5 tools can change or delete data; 2 only read.");
    await page.getByRole("button", { name: "Approve" }).click();
    const answer = await callbackInBrowser(page, callback);
    client = await finishAuthorization(provider, server.mcpUrl, answer.get("code")!, "rest-e2e");

    const { tools } = await client.listTools();
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    expect(Object.keys(byName).sort()).toEqual(["createPet", "decoy", "deletePet", "listPets", "showPetById"]);
    expect(byName.showPetById!.annotations).toMatchObject({ readOnlyHint: true, title: "Info for a specific pet" });
    expect(byName.deletePet!.annotations).toMatchObject({ destructiveHint: true });
    expect(byName.showPetById!.outputSchema).toMatchObject({ type: "object" });

    // GET with path and header parameters: structured content checked by the SDK client itself.
    const one = await client.callTool({ name: "showPetById", arguments: { petId: "1", "X-Request-Id": "req-42" } });
    expect(one.isError).toBeFalsy();
    expect(one.structuredContent).toEqual({ id: 1, name: "Rex", tag: "dog" });
    // GET with query parameters (an array joined by commas).
    const list = await client.callTool({ name: "listPets", arguments: { limit: 5, tags: ["dog", "cat"] } });
    expect(list.structuredContent).toEqual({ items: [{ id: 1, name: "Rex", tag: "dog" }] });
    // POST with a JSON body.
    const made = await client.callTool({ name: "createPet", arguments: { body: { name: "Tom", tag: "cat" } } });
    expect(made.structuredContent).toEqual({ id: 2, name: "Tom", tag: "cat" });
    // A path argument that tries to climb out is sent escaped, as data.
    const sneaky = await client.callTool({ name: "showPetById", arguments: { petId: "../../admin?x=1#y" } });
    expect(sneaky.isError).toBe(true);
    expect(JSON.stringify(sneaky.content)).toContain("HTTP 404");
    await client.callTool({ name: "decoy", arguments: { note: "hello" } });

    expect(petstore.seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      "GET /v1/pets/1",
      "GET /v1/pets?limit=5&tags=dog,cat",
      "POST /v1/pets",
      "GET /v1/pets/..%2F..%2Fadmin%3Fx%3D1%23y",
    ]);
    expect(petstore.seen[0]!.headers["x-request-id"]).toBe("req-42");
    expect(petstore.seen[2]!.body).toBe('{"name":"Tom","tag":"cat"}');
    for (const s of petstore.seen) expect(s.headers["x-api-key"]).toBe(API_KEY);
    // The credential reached the upstream only: not the decoy, not the MCP client.
    expect(decoy.seen).toHaveLength(1);
    expect(JSON.stringify(decoy.seen)).not.toContain(API_KEY);
    expect(JSON.stringify(tools)).not.toContain(API_KEY);
  } finally {
    await client?.close();
    await callback.close();
    await petstore.close();
    await decoy.close();
  }
});
