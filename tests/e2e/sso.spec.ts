import { createHash, randomBytes } from "node:crypto";
import { startOidcProvider, type TestOidcProvider } from "../helpers/oidc-provider";
import { seedServer } from "./authorize-data";
import http from "node:http";
import { createUser, expect, freePort, startApp, test, uniqueEmail, type AppUnderTest } from "./fixtures";

// A real OpenID provider on 127.0.0.1 (tests/helpers/oidc-provider.ts) and the built app configured
// with nothing but environment variables. Runs with JavaScript on and off (playwright.config.ts).
let idp: TestOidcProvider;
let app: AppUnderTest & { stop(): Promise<void> };

test.beforeAll(async () => {
  idp = await startOidcProvider();
  app = await startApp({
    TOOLGATE_OIDC_ISSUER: idp.issuer,
    TOOLGATE_OIDC_CLIENT_ID: idp.clientId,
    TOOLGATE_OIDC_CLIENT_SECRET: idp.clientSecret,
    TOOLGATE_OIDC_NAME: "Acme SSO",
    TOOLGATE_ALLOWED_EMAIL_DOMAINS: "acme.test",
    TOOLGATE_LINK_BY_EMAIL: "true",
    TOOLGATE_PASSWORD_SIGNIN: "false",
  });
  idp.redirectUris.push(`${app.url}/auth/oidc/callback`);
  await createUser(app, { email: uniqueEmail("owner"), owner: true });
});

test.afterAll(async () => {
  await app?.stop();
  await idp?.close();
});

/** At the provider's login page: sign in as `email` (or cancel). */
async function atProvider(page: import("@playwright/test").Page, email: string | null) {
  await expect(page.getByRole("heading", { name: "Test identity provider" })).toBeVisible();
  if (email === null) return page.getByRole("button", { name: "Cancel" }).click();
  await page.getByLabel("Login").fill(email);
  await page.getByRole("button", { name: "Continue" }).click();
}

test("the sign-in page offers the provider and, with password sign-in off, no password form", async ({ page }) => {
  await page.goto(`${app.url}/sign-in`);
  await expect(page.getByRole("button", { name: "Sign in with Acme SSO" })).toBeVisible();
  await expect(page.getByLabel("Password")).toHaveCount(0);
});

test("a person from an allowed domain signs in through the provider", async ({ page }) => {
  const email = uniqueEmail("new").replace("@example.test", "@acme.test");
  idp.addUser({ email, name: "New Person" });
  await page.goto(`${app.url}/sign-in`);
  await page.getByRole("button", { name: "Sign in with Acme SSO" }).click();
  await atProvider(page, email);
  await page.waitForURL(`${app.url}/`);
  await expect(page.getByRole("button", { name: "Sign out" })).toBeVisible();
});

test("a person invited with `toolgate user invite` signs in through the provider and gets a member account", async ({ page }) => {
  const email = uniqueEmail("invited");
  const invite = await app.cli(["user", "invite", "--email", email, "--json"]);
  expect(invite.code).toBe(0);
  idp.addUser({ email });
  await page.goto(`${app.url}/sign-in`);
  await page.getByRole("button", { name: "Sign in with Acme SSO" }).click();
  await atProvider(page, email);
  await page.waitForURL(`${app.url}/`);
  await expect(page.getByRole("button", { name: "Sign out" })).toBeVisible();
  const list = await app.cli(["user", "list", "--json"]);
  expect(list.stdout).toContain(email);
  expect((await app.cli(["user", "invitations", "--json"])).stdout).not.toContain(email);
});

test("signed out at Authorize Application, signs in through the provider, lands back and approves", async ({ page }) => {
  const { email, id: userId } = await createUser(app);
  idp.addUser({ email });
  const serverId = (await seedServer(app.dataDir, userId, "Acme Tools", ["lookup"])).id;
  // The client's local callback listener, as desktop MCP clients run one.
  const port = await freePort();
  const listener = http.createServer((_req, res) => res.end("client got it"));
  await new Promise<void>((resolve) => listener.listen(port, "127.0.0.1", resolve));
  const redirectUri = `http://127.0.0.1:${port}/callback`;
  const registration = await fetch(`${app.url}/register`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      client_name: "SSO E2E Client",
      redirect_uris: [redirectUri],
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
    }),
  });
  expect(registration.status).toBe(201);
  const { client_id: clientId } = (await registration.json()) as { client_id: string };
  const verifier = randomBytes(32).toString("base64url");
  const authorize = new URL(`${app.url}/authorize`);
  for (const [k, v] of Object.entries({
    response_type: "code",
    client_id: clientId,
    redirect_uri: redirectUri,
    code_challenge: createHash("sha256").update(verifier).digest("base64url"),
    code_challenge_method: "S256",
    scope: "mcp:tools",
    state: "client-state-1",
    resource: `${app.url}/mcp/${serverId}`,
  })) {
    authorize.searchParams.set(k, v);
  }
  await page.goto(authorize.toString());
  await page.waitForURL((u) => u.pathname === "/sign-in");
  await page.getByRole("button", { name: "Sign in with Acme SSO" }).click();
  await atProvider(page, email);
  await expect(page.getByRole("heading", { name: "Authorize Application" })).toBeVisible();
  expect(new URL(page.url()).pathname).toBe("/authorize");
  await expect(page.getByTestId("server-name")).toHaveText("Acme Tools");
  await page.getByRole("button", { name: "Approve" }).click();
  await page.waitForURL((u) => u.href.startsWith(redirectUri));
  const back = new URL(page.url());
  expect(back.searchParams.get("state")).toBe("client-state-1");
  expect(back.searchParams.get("code")).toBeTruthy();
  await expect(page.getByText("client got it")).toBeVisible();
  listener.closeAllConnections();
  listener.close();
});

test("an email outside the allowed domains comes back to the sign-in page with a message", async ({ page }) => {
  const email = uniqueEmail("stranger");
  idp.addUser({ email });
  await page.goto(`${app.url}/sign-in?returnTo=%2Fconnections`);
  await page.getByRole("button", { name: "Sign in with Acme SSO" }).click();
  await atProvider(page, email);
  await page.waitForURL((u) => u.pathname === "/sign-in");
  await expect(page.getByRole("alert")).toHaveText(
    "Your account is not allowed to sign in to this workspace. Ask the workspace owner for an invitation.",
  );
  expect(new URL(page.url()).searchParams.get("returnTo")).toBe("/connections");
});

test("cancelling at the provider says so on the sign-in page", async ({ page }) => {
  await page.goto(`${app.url}/sign-in`);
  await page.getByRole("button", { name: "Sign in with Acme SSO" }).click();
  await atProvider(page, null);
  await page.waitForURL((u) => u.pathname === "/sign-in");
  await expect(page.getByRole("alert")).toHaveText("Sign-in was cancelled at the identity provider.");
});
