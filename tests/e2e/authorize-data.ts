/**
 * Helpers for the Authorize Application browser tests: servers written straight into the running
 * app's database (app-db.ts), clients registered through the real
 * POST /register, PKCE, and a callback server on 127.0.0.1 that catches the redirect.
 */
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Page } from "@playwright/test";
import { insertServerRows, withAppDb } from "../helpers/app-db";

const id = () => randomBytes(16).toString("base64url");

export type SeededServer = { id: string; name: string; tools: Record<string, string> };

export async function seedServer(dataDir: string, ownerId: string, name: string, tools: string[]): Promise<SeededServer> {
  const serverId = id();
  const rows = tools.map((tool) => ({ name: tool, description: `Description of ${tool}`, endpointUrl: "http://127.0.0.1:9/unused" }));
  const toolIds = await withAppDb(dataDir, (db) => insertServerRows(db, { id: serverId, ownerId, name, at: Date.now() }, rows));
  return { id: serverId, name, tools: toolIds };
}

/** Moves a pending authorization request's expiry into the past. */
export function expireRequest(dataDir: string, requestId: string): Promise<void> {
  return withAppDb(dataDir, (db) => db.run("update authorization_requests set expires_at = ? where id = ?", Date.now() - 1000, requestId));
}

/** The tools of the (single) grant of a client, by name, and the server of its codes. */
export function grantOf(dataDir: string, clientId: string): Promise<{ tools: string[]; codeServers: string[] } | null> {
  return withAppDb(dataDir, async (db) => {
    const grant = await db.get<{ id: string }>("select id from grants where client_id = ?", clientId);
    if (!grant) return null;
    const tools = (
      await db.all<{ name: string }>("select t.name from grant_tools g join tools t on t.id = g.tool_id where g.grant_id = ? order by t.name", grant.id)
    ).map((r) => r.name);
    const codeServers = (await db.all<{ server_id: string }>("select server_id from authorization_codes where client_id = ?", clientId)).map(
      (r) => r.server_id,
    );
    return { tools, codeServers };
  });
}

export function pkce() {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

/** Registers a public client through the app's real POST /register. */
export async function registerClient(appUrl: string, redirectUris: string[], clientName = "Claude Desktop"): Promise<string> {
  const res = await fetch(`${appUrl}/register`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ client_name: clientName, redirect_uris: redirectUris, token_endpoint_auth_method: "none" }),
  });
  if (res.status !== 201) throw new Error(`registration failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { client_id: string }).client_id;
}

export function authorizeUrl(appUrl: string, params: Record<string, string | undefined>): string {
  const url = new URL("/authorize", appUrl);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  return url.toString();
}

export type Callback = {
  url: string;
  /** Resolves with the query of the first request to the callback. */
  received: Promise<URLSearchParams>;
  close(): Promise<void>;
};

/** A redirect target on 127.0.0.1 (a native app's loopback listener, RFC 8252 §7.3). */
/**
 * The callback's query once the browser has arrived there: the callback server sees the request
 * before the browser's navigation to it has finished, so a test's next page.goto would race it.
 */
export async function callbackInBrowser(page: Page, callback: Callback): Promise<URLSearchParams> {
  const received = await callback.received;
  await page.waitForURL((u) => u.href.startsWith(callback.url));
  return received;
}

export async function startCallback(): Promise<Callback> {
  let resolve!: (params: URLSearchParams) => void;
  const received = new Promise<URLSearchParams>((r) => (resolve = r));
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (url.pathname === "/callback") resolve(url.searchParams);
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end("<!doctype html><title>Callback</title><h1>Back in the application</h1>");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/callback`,
    received,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Gives a client a name directly in the database, as a row stored before a validation rule. */
export function renameClient(dataDir: string, clientId: string, name: string): Promise<void> {
  return withAppDb(dataDir, (db) => db.run("update oauth_clients set client_name = ? where id = ?", name, clientId));
}
