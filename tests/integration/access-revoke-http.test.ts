import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { REVOKE_CSRF_PURPOSE } from "~/access/revoke-action.server";
import { csrfToken, sessionStorage } from "~/auth/session.server";
import type { RunningServer } from "~/http/server.server";
import { action as revokeAction } from "~/routes/connections";
import { createTestContext, type TestContext } from "../helpers/context";
import { formRequest, loadContext, startProtocolServer } from "../helpers/http";
import { mcpInitialize } from "../helpers/mcp-request";
import { addFamily, makeClient, makeGrant, makeServer, makeUser } from "./access-fixtures";

/** Revoke access takes effect on the very next protocol request, over real HTTP. */
describe("Revoke access over HTTP: the next MCP request is 401, the next refresh invalid_grant", () => {
  let ctx: TestContext;
  let http: RunningServer;
  beforeEach(async () => {
    ctx = createTestContext();
    http = await startProtocolServer(ctx);
  });
  afterEach(async () => {
    await http.close(0);
    ctx.cleanup();
  });

  const mcp = (serverId: string, accessToken: string) => mcpInitialize(`${http.url}/mcp/${serverId}`, accessToken);

  const refresh = (clientId: string, refreshToken: string) =>
    fetch(`${http.url}/token`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken, client_id: clientId }),
    });

  it("cuts off every device of the grant and leaves other grants working", async () => {
    const user = await makeUser(ctx);
    const server = await makeServer(ctx, user.id, "Weather", ["forecast"]);
    const client = await makeClient(ctx, { name: "Claude Desktop" });
    const grant = await makeGrant(ctx, { userId: user.id, clientId: client.id, serverId: server.id, toolIds: Object.values(server.toolIds) });
    const laptop = await addFamily(ctx, grant, { clientId: client.id, userId: user.id, serverId: server.id });
    const other = await makeServer(ctx, user.id, "Notes", ["search"]);
    const otherGrant = await makeGrant(ctx, { userId: user.id, clientId: client.id, serverId: other.id, toolIds: Object.values(other.toolIds) });

    // Before: both work (and a refresh rotates, so the newest refresh token is the one to test).
    const first = await mcp(server.id, grant.tokens.accessToken);
    expect(first.status).toBe(200);
    await first.body?.cancel();
    const rotated = await refresh(client.id, grant.tokens.refreshToken!);
    expect(rotated.status).toBe(200);
    const newest = (await rotated.json()) as { access_token: string; refresh_token: string };

    const session = await sessionStorage(ctx).getSession(user.cookie);
    const response = (await revokeAction({
      request: formRequest(
        "http://localhost:3000/connections",
        { csrf: csrfToken(ctx, session.get("sid")!, REVOKE_CSRF_PURPOSE), grantId: grant.grantId },
        { Cookie: user.cookie },
      ),
      context: loadContext(ctx),
      params: {},
    })) as Response;
    expect(response.status).toBe(302);

    for (const token of [grant.tokens.accessToken, newest.access_token, laptop.accessToken]) {
      const after = await mcp(server.id, token);
      expect(after.status).toBe(401);
      expect(after.headers.get("WWW-Authenticate")).toContain('error="invalid_token"');
      await after.body?.cancel();
    }
    for (const token of [newest.refresh_token, laptop.refreshToken!]) {
      const after = await refresh(client.id, token);
      expect(after.status).toBe(400);
      expect(((await after.json()) as { error: string }).error).toBe("invalid_grant");
    }

    const stillOk = await mcp(other.id, otherGrant.tokens.accessToken);
    expect(stillOk.status).toBe(200);
    await stillOk.body?.cancel();
  });
});
