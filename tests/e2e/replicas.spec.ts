/**
 * The MCP SDK client through three replicas on one PostgreSQL behind a round-robin balancer, no
 * sticky sessions (docs/self-hosting.md, section 10): discovery, registration, the sign-in and
 * Authorize Application pages and their form posts, the token and every MCP request land on
 * whichever replica is next. JavaScript on and off (one project each).
 */
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { startCluster, type Cluster } from "../helpers/postgres-cluster";
import { startReplicas, type ReplicaSet } from "../helpers/replicas";
import { callbackInBrowser, startCallback } from "./authorize-data";
import { createUser, expect, PASSWORD, test, type AppUnderTest } from "./fixtures";
import { expectAuthorizationRequired, finishAuthorization, MemoryProvider } from "./mcp-client-harness";

test.describe.configure({ timeout: 120_000 });

let cluster: Cluster;
let set: ReplicaSet;
let endpoint: http.Server;
let endpointUrl: string;

test.beforeAll(async () => {
  cluster = await startCluster();
  set = await startReplicas({ count: 3, databaseUrl: cluster.url, env: { TOOLGATE_RATE_LIMIT: "off" } });
  endpoint = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c));
    req.on("end", () => res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ echoed: JSON.parse(body || "{}") })));
  });
  await new Promise<void>((r) => endpoint.listen(0, "127.0.0.1", () => r()));
  endpointUrl = `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}`;
});

test.afterAll(async () => {
  await set?.stop();
  endpoint?.closeAllConnections();
  await new Promise((r) => endpoint?.close(r));
  await cluster?.stop();
});

/** The replica set as the CLI helpers see an app: its public URL and a CLI on the shared database. */
const asApp = (): Pick<AppUnderTest, "url" | "cli"> => ({ url: set.url, cli: (args, stdin) => set.cli(args, stdin) });

test("the SDK client is authorized through the consent page served by any replica and keeps working across all three", async ({ page }) => {
  const app = asApp() as AppUnderTest;
  const owner = await createUser(app, { owner: true, email: `owner-${test.info().project.name}-${Date.now()}@example.test` });
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-tools-")), "tools.json");
  fs.writeFileSync(file, JSON.stringify([{ name: "echo", description: "Echoes the text back", inputSchema: { type: "object" }, endpoint: { url: `${endpointUrl}/echo` } }]));
  const created = await set.cli(["server", "create", "--owner", owner.email, "--name", "Replicated", "--tools", file, "--json"]);
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
  expect(created.code, created.stderr).toBe(0);
  const server = JSON.parse(created.stdout.trim().split("\n").at(-1)!) as { id: string; mcpUrl: string };

  const callback = await startCallback();
  const provider = new MemoryProvider(callback.url, { clientName: "Replicated Client", page });
  provider.handOff = true;
  try {
    const before = set.answeredBy.length;
    await expectAuthorizationRequired(provider, server.mcpUrl, "replicas");
    await provider.opened;
    // Signed out: the sign-in page (one replica), its post (the next), back to the request (another).
    await page.getByLabel("Email").fill(owner.email);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByRole("heading", { name: "Authorize Application" })).toBeVisible();
    await expect(page.getByText("Replicated", { exact: true }).first()).toBeVisible();
    await page.getByRole("button", { name: "Approve" }).click();
    const answer = await callbackInBrowser(page, callback);
    const client = await finishAuthorization(provider, server.mcpUrl, answer.get("code")!, "replicas");
    try {
      for (let i = 0; i < 6; i++) {
        const { tools } = await client.listTools();
        expect(tools.map((t) => t.name)).toEqual(["echo"]);
        const result = await client.callTool({ name: "echo", arguments: { n: i } });
        expect(result.content).toEqual([{ type: "text", text: JSON.stringify({ echoed: { n: i } }) }]);
      }
    } finally {
      await client.close();
    }
    // Every replica answered part of it: no stickiness was needed.
    expect(new Set(set.answeredBy.slice(before))).toEqual(new Set([0, 1, 2]));
  } finally {
    await callback.close();
  }
});
