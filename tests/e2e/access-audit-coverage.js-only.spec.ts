/**
 * Every kind of event the audit log promises is recorded, through the real flows: the MCP SDK client
 * registering, a denial and an approval in the browser, token issue, a tool call, client-side
 * revocation, refresh, refresh-token reuse, and Revoke access. Read back through `toolgate audit
 * export`. JavaScript only: the same pages are covered with JavaScript off by the consent and revoke
 * specs, and this flow is long.
 */
import { authorizeInBrowser, expectAuthorizationRequired, MemoryProvider, seedServer, startToolEndpoint } from "./mcp-client-harness";
import { startCallback } from "./authorize-data";
import { createUser, expect, signIn, test } from "./fixtures";

const SECRET_ARGUMENT = "do-not-record-this-7f3a";

test("the audit log records every promised kind and never arguments or tokens", async ({ page, app }) => {
  const user = await createUser(app);
  const endpoint = await startToolEndpoint();
  const callbacks = await Promise.all([startCallback(), startCallback(), startCallback()]);
  const [denyCallback, approveCallback, laterCallback] = callbacks;
  try {
    const serverId = await seedServer(app.dataDir, user.id, endpoint.url, ["forecast", "alerts"]);
    const mcpUrl = new URL(`${app.url}/mcp/${serverId}`);
    await signIn(page, app, user.email);

    // Denied.
    const denied = new MemoryProvider(denyCallback!.url);
    await expectAuthorizationRequired(denied, mcpUrl, "deny");
    await page.goto(denied.authorizationUrl!.toString());
    await page.getByRole("button", { name: "Deny" }).click();
    expect((await denyCallback!.received).get("error")).toBe("access_denied");
    // Let the browser finish its navigation to the callback before the next page.goto.
    await page.waitForURL((u) => u.pathname === "/callback" && u.searchParams.get("error") === "access_denied");

    // Approved, tokens issued, a tool called with an argument that must not be recorded.
    const provider = new MemoryProvider(approveCallback!.url);
    const client = await authorizeInBrowser(page, provider, mcpUrl, approveCallback!);
    const result = await client.callTool({ name: "forecast", arguments: { city: SECRET_ARGUMENT } });
    expect(result.isError).toBeFalsy();
    await client.close();
    const clientId = provider.info!.client_id;
    const first = provider.saved!;

    const post = (path: string, params: Record<string, string>) =>
      fetch(`${app.url}${path}`, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(params) });
    // The client revokes its access token (RFC 7009).
    expect((await post("/revoke", { token: first.access_token, token_type_hint: "access_token", client_id: clientId })).status).toBe(200);
    // Refreshed twice, then the first refresh token is replayed: reuse.
    const r1 = await post("/token", { grant_type: "refresh_token", refresh_token: first.refresh_token!, client_id: clientId });
    expect(r1.status).toBe(200);
    const second = (await r1.json()) as { refresh_token: string };
    expect((await post("/token", { grant_type: "refresh_token", refresh_token: second.refresh_token, client_id: clientId })).status).toBe(200);
    const replay = await post("/token", { grant_type: "refresh_token", refresh_token: first.refresh_token!, client_id: clientId });
    expect(replay.status).toBe(400);

    // Authorized again (a new grant) and revoked by the user.
    const later = new MemoryProvider(laterCallback!.url);
    const laterClient = await authorizeInBrowser(page, later, mcpUrl, laterCallback!);
    await laterClient.close();
    await page.goto(`${app.url}/servers/${serverId}/connections`);
    await page.getByRole("button", { name: "Revoke access for Consent E2E Client" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Revoke access", exact: true }).click();
    await expect(page.getByRole("status")).toBeVisible();

    const exported = await app.cli(["audit", "export"]);
    expect(exported.code).toBe(0);
    const ours = new Set([clientId, denied.info!.client_id, later.info!.client_id]);
    const events = exported.stdout
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line) as { kind: string; clientId: string | null; actor: string | null; detail: Record<string, unknown> })
      .filter((e) => e.clientId !== null && ours.has(e.clientId));
    const kinds = new Set(events.map((e) => e.kind));
    for (const kind of [
      "client.registered",
      "authorization.denied",
      "authorization.approved",
      "token.issued",
      "tool.called",
      "token.revoked",
      "token.refreshed",
      "refresh.reuse_detected",
      "grant.revoked",
    ]) {
      expect(kinds, kind).toContain(kind);
    }
    expect(events.find((e) => e.kind === "authorization.approved")!.detail.tools).toEqual(["alerts", "forecast"]);
    expect(events.find((e) => e.kind === "tool.called")!.detail).toMatchObject({ tool: "forecast", outcome: "ok" });
    expect(events.find((e) => e.kind === "grant.revoked")!.actor).toBe(user.id);
    for (const secret of [SECRET_ARGUMENT, first.access_token, first.refresh_token!, second.refresh_token]) {
      expect(exported.stdout).not.toContain(secret);
    }

    // The server's Activity page tells the story in words.
    await page.goto(`${app.url}/servers/${serverId}/activity`);
    await expect(page.getByRole("cell", { name: /refresh token of Consent E2E Client was used again/ })).toBeVisible();
    await expect(page.getByRole("cell", { name: `${user.email} denied Consent E2E Client access` })).toBeVisible();
  } finally {
    await Promise.all(callbacks.map((c) => c.close()));
    await endpoint.close();
  }
});
