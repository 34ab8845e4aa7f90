/** Builders for the authorization server tests: real rows, real HTTP, no mocks of our own code. */
import { createHash, randomBytes } from "node:crypto";
import { createUser } from "~/auth/users.server";
import { authorizationCodes, grants, mcpServers } from "~/db/schema";
import { registerClient } from "~/oauth/clients.server";
import { mcpResourceUrl } from "~/oauth/metadata.server";
import { newAuthorizationCode, secretHash } from "~/oauth/tokens.server";
import { newId } from "~/utils/crypto.server";
import { afterEach, beforeEach } from "vitest";
import type { RunningServer } from "~/http/server.server";
import { createTestContext, type TestContext } from "../helpers/context";
import { startProtocolServer } from "../helpers/http";

export const REDIRECT = "https://client.example.test/callback";

export function pkcePair() {
  const verifier = randomBytes(32).toString("base64url");
  const challenge = createHash("sha256").update(verifier).digest("base64url");
  return { verifier, challenge };
}

export async function makeUserAndServer(ctx: TestContext, name = "Weather") {
  const user = await createUser(ctx, { email: `owner-${newId().slice(0, 8)}@example.test`, password: null });
  const serverId = newId();
  const now = ctx.now();
  await ctx.db
    .insert(mcpServers)
    .values({ id: serverId, ownerId: user.id, name, description: "", signingSecretEnc: "unused", createdAt: now, updatedAt: now });
  return { userId: user.id, serverId, resource: mcpResourceUrl(ctx, serverId) };
}

export async function makeClient(
  ctx: TestContext,
  method: "none" | "client_secret_basic" | "client_secret_post" = "none",
  redirectUris = [REDIRECT, "http://127.0.0.1/callback"],
) {
  const { response } = await registerClient(ctx, {
    client_name: "Test Client",
    redirect_uris: redirectUris,
    token_endpoint_auth_method: method,
  });
  return { clientId: response.client_id as string, secret: (response.client_secret as string | undefined) ?? null };
}

export type CodeOptions = {
  clientId: string;
  userId: string;
  serverId: string;
  redirectUri?: string;
  redirectUriProvided?: boolean;
  scope?: string;
  grantId?: string;
  ttlSeconds?: number;
};

/** What the consent page's Approve writes: a grant and a code bound to everything. */
export async function issueCode(ctx: TestContext, options: CodeOptions) {
  const now = ctx.now();
  const grantId =
    options.grantId ??
    (await (async () => {
      const id = newId();
      await ctx.db
        .insert(grants)
        .values({ id, userId: options.userId, clientId: options.clientId, serverId: options.serverId, scope: options.scope ?? "mcp:tools", createdAt: now, updatedAt: now });
      return id;
    })());
  const { verifier, challenge } = pkcePair();
  const code = newAuthorizationCode();
  await ctx.db
    .insert(authorizationCodes)
    .values({
      codeHash: secretHash(code),
      grantId,
      clientId: options.clientId,
      userId: options.userId,
      serverId: options.serverId,
      redirectUri: options.redirectUri ?? REDIRECT,
      redirectUriProvided: options.redirectUriProvided ?? true,
      codeChallenge: challenge,
      scope: options.scope ?? "mcp:tools",
      resource: mcpResourceUrl(ctx, options.serverId),
      createdAt: now,
      expiresAt: now + (options.ttlSeconds ?? ctx.config.codeTtlSeconds) * 1000,
    });
  return { code, verifier, challenge, grantId };
}

/** POSTs a form to the running server; returns status, headers and parsed JSON (or null). */
export async function postForm(
  baseUrl: string,
  path: string,
  fields: Record<string, string | string[]>,
  headers: Record<string, string> = {},
) {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) for (const item of Array.isArray(v) ? v : [v]) body.append(k, item);
  const response = await fetch(baseUrl + path, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", ...headers },
    body,
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : null };
}

/**
 * A fresh token pair the way a client gets one: a code written as Approve writes it, exchanged at
 * the running server's POST /token. A client that authenticates with an Authorization header
 * sends no client_id in the body.
 */
export async function issueTokens(ctx: TestContext, baseUrl: string, code: CodeOptions, headers: Record<string, string> = {}) {
  const { code: value, verifier, grantId } = await issueCode(ctx, code);
  const fields: Record<string, string> = { grant_type: "authorization_code", code: value, code_verifier: verifier, redirect_uri: REDIRECT };
  if (!headers.Authorization) fields.client_id = code.clientId;
  const res = await postForm(baseUrl, "/token", fields, headers);
  if (res.status !== 200) throw new Error(`code exchange failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { access: res.body!.access_token as string, refresh: res.body!.refresh_token as string, grantId };
}

export function basic(clientId: string, secret: string) {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString("base64")}`;
}

export type OAuthWorld = {
  ctx: TestContext;
  server: RunningServer;
  world: Awaited<ReturnType<typeof makeUserAndServer>>;
  clientId: string;
};

/**
 * For each test: a fresh context (with `env`), the protocol endpoints on a real HTTP server, a user
 * with an MCP server, and one registered client; torn down after the test. `use` receives them.
 */
export function useOAuthWorld(env: Record<string, string>, use: (world: OAuthWorld) => void): void {
  let current: OAuthWorld | undefined;
  beforeEach(async () => {
    const ctx = createTestContext(env);
    const server = await startProtocolServer(ctx);
    current = { ctx, server, world: await makeUserAndServer(ctx), clientId: (await makeClient(ctx)).clientId };
    use(current);
  });
  afterEach(async () => {
    await current?.server.close(100);
    current?.ctx.cleanup();
  });
}
