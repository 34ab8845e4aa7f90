/**
 * Helpers for the Authorize Application browser tests: servers written straight into the running
 * app's SQLite file (WAL, so the app sees them on its next read), clients registered through the real
 * POST /register, PKCE, and a callback server on 127.0.0.1 that catches the redirect.
 */
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import Database from "better-sqlite3";
import type { Page } from "@playwright/test";

const id = () => randomBytes(16).toString("base64url");

function openDb(dataDir: string) {
  const db = new Database(path.join(dataDir, "toolgate.db"));
  db.pragma("busy_timeout = 5000");
  return db;
}

export type SeededServer = { id: string; name: string; tools: Record<string, string> };

export function seedServer(dataDir: string, ownerId: string, name: string, tools: string[]): SeededServer {
  const db = openDb(dataDir);
  try {
    const now = Date.now();
    const serverId = id();
    const toolIds: Record<string, string> = {};
    db.transaction(() => {
      db.prepare(
        "insert into mcp_servers (id, owner_id, name, description, signing_secret_enc, created_at, updated_at) values (?, ?, ?, '', 'unused', ?, ?)",
      ).run(serverId, ownerId, name, now, now);
      for (const tool of tools) {
        toolIds[tool] = id();
        db.prepare(
          "insert into tools (id, server_id, name, description, input_schema, endpoint_url, created_at, updated_at) values (?, ?, ?, ?, '{\"type\":\"object\"}', 'http://127.0.0.1:9/unused', ?, ?)",
        ).run(toolIds[tool], serverId, tool, `Description of ${tool}`, now, now);
      }
    })();
    return { id: serverId, name, tools: toolIds };
  } finally {
    db.close();
  }
}

/** Moves a pending authorization request's expiry into the past. */
export function expireRequest(dataDir: string, requestId: string): void {
  const db = openDb(dataDir);
  try {
    db.prepare("update authorization_requests set expires_at = ? where id = ?").run(Date.now() - 1000, requestId);
  } finally {
    db.close();
  }
}

/** The tools of the (single) grant of a client, by name, and the server of its codes. */
export function grantOf(dataDir: string, clientId: string): { tools: string[]; codeServers: string[] } | null {
  const db = openDb(dataDir);
  try {
    const grant = db.prepare("select id from grants where client_id = ?").get(clientId) as { id: string } | undefined;
    if (!grant) return null;
    const tools = (
      db
        .prepare("select t.name from grant_tools g join tools t on t.id = g.tool_id where g.grant_id = ? order by t.name")
        .all(grant.id) as { name: string }[]
    ).map((r) => r.name);
    const codeServers = (db.prepare("select server_id from authorization_codes where client_id = ?").all(clientId) as { server_id: string }[]).map(
      (r) => r.server_id,
    );
    return { tools, codeServers };
  } finally {
    db.close();
  }
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
export function renameClient(dataDir: string, clientId: string, name: string): void {
  const db = openDb(dataDir);
  try {
    db.prepare("UPDATE oauth_clients SET client_name = ? WHERE id = ?").run(name, clientId);
  } finally {
    db.close();
  }
}
