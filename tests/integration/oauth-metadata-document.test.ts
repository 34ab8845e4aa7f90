/**
 * Client ID Metadata Documents: the fetch policy (decision 007) against real local HTTPS servers,
 * with an injected resolver standing in for DNS.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { eq } from "drizzle-orm";
import { oauthClients } from "~/db/schema";
import { resolveClient } from "~/oauth/clients.server";
import {
  cacheSecondsFrom,
  checkClientIdUrl,
  createMetadataDocumentFetcher,
  isPublicAddress,
  PRODUCTION_FETCH_POLICY,
  type Resolver,
} from "~/oauth/metadata-document-fetch.server";
import { createTestContext, type TestContext } from "../helpers/context";

const HOST = "client.example.test";
let tls: { key: string; cert: string };
let tmp: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-cimd-"));
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", path.join(tmp, "key.pem"), "-out", path.join(tmp, "cert.pem"), "-days", "1",
    "-subj", `/CN=${HOST}`, "-addext", `subjectAltName=DNS:${HOST}`,
  ], { stdio: "ignore" });
  tls = { key: fs.readFileSync(path.join(tmp, "key.pem"), "utf8"), cert: fs.readFileSync(path.join(tmp, "cert.pem"), "utf8") };
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;
let servers: Array<http.Server | https.Server> = [];
let ctx: TestContext;
beforeEach(() => {
  ctx = createTestContext();
});
afterEach(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  servers = [];
  ctx.cleanup();
});

/** A real HTTPS server on 127.0.0.1; returns its port and the paths it was asked for. */
async function startDocumentServer(handler: Handler, plain = false) {
  const requests: string[] = [];
  const wrapped: Handler = (req, res) => {
    requests.push(req.url ?? "");
    handler(req, res);
  };
  const server = plain ? http.createServer(wrapped) : https.createServer(tls, wrapped);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { port: (server.address() as AddressInfo).port, requests };
}

function documentFor(clientId: string, patch: Record<string, unknown> = {}) {
  return { client_id: clientId, client_name: "Example Agent", redirect_uris: ["http://127.0.0.1/callback", "https://agent.example/cb"], ...patch };
}

function serveJson(body: unknown, headers: Record<string, string> = {}): Handler {
  return (_req, res) => {
    res.writeHead(200, { "Content-Type": "application/json", ...headers });
    res.end(JSON.stringify(body));
  };
}

let lookups = 0;
const toLoopback: Resolver = async () => {
  lookups++;
  return [{ address: "127.0.0.1", family: 4 }];
};

/** The policy a test may use: production rules, but this loopback test server is reachable and trusted. */
function testFetcher(overrides: Parameters<typeof createMetadataDocumentFetcher>[0] = {}) {
  return createMetadataDocumentFetcher({
    resolve: toLoopback,
    isAllowedAddress: (ip) => ip === "127.0.0.1",
    ca: tls.cert,
    ...overrides,
  });
}

describe("Client ID Metadata Document: fetching and caching", () => {
  it("fetches, validates and caches a document per Cache-Control max-age", async () => {
    let clientId = "";
    const { port, requests } = await startDocumentServer((req, res) =>
      serveJson(documentFor(clientId, { client_uri: "https://agent.example", logo_uri: "https://agent.example/logo.png" }), { "Cache-Control": "max-age=600" })(req, res),
    );
    clientId = `https://${HOST}:${port}/oauth/client.json`;
    lookups = 0;
    const fetcher = testFetcher();
    const client = await resolveClient(ctx, clientId, fetcher);
    expect(client).toEqual({
      id: clientId,
      kind: "metadata_document",
      clientName: "Example Agent",
      clientUri: "https://agent.example",
      logoUri: "https://agent.example/logo.png",
      redirectUris: ["http://127.0.0.1/callback", "https://agent.example/cb"],
      tokenEndpointAuthMethod: "none",
      // The document names no grant_types: the RFC 7591 default.
      grantTypes: ["authorization_code", "refresh_token"],
    });
    // The host name is not in DNS: the fetch connected to the address the resolver gave, once.
    expect(lookups).toBe(1);
    expect(requests).toEqual(["/oauth/client.json"]);
    const row = ctx.db.select().from(oauthClients).where(eq(oauthClients.id, clientId)).get()!;
    expect(row.expiresAt).toBe(ctx.now() + 600_000);

    ctx.advance(599_000);
    expect(await resolveClient(ctx, clientId, fetcher)).not.toBeNull();
    expect(requests).toHaveLength(1);
    ctx.advance(2000);
    expect(await resolveClient(ctx, clientId, fetcher)).not.toBeNull();
    expect(requests).toHaveLength(2);
  });

  it("bounds the cache lifetime to 5 minutes .. 24 hours", () => {
    expect(cacheSecondsFrom("max-age=10", PRODUCTION_FETCH_POLICY)).toBe(300);
    expect(cacheSecondsFrom("public, max-age=999999", PRODUCTION_FETCH_POLICY)).toBe(86400);
    expect(cacheSecondsFrom("no-store", PRODUCTION_FETCH_POLICY)).toBe(300);
    expect(cacheSecondsFrom(undefined, PRODUCTION_FETCH_POLICY)).toBe(3600);
    expect(cacheSecondsFrom("max-age=7200", PRODUCTION_FETCH_POLICY)).toBe(7200);
  });

  it("can speak plain HTTP to a test server when told to (never the default)", async () => {
    let clientId = "";
    const { port } = await startDocumentServer((req, res) => serveJson(documentFor(clientId))(req, res), true);
    clientId = `https://${HOST}/client.json`;
    const client = await resolveClient(ctx, clientId, testFetcher({ plainHttpPort: port }));
    expect(client?.clientName).toBe("Example Agent");
    expect(PRODUCTION_FETCH_POLICY.plainHttpPort).toBeUndefined();
    expect(PRODUCTION_FETCH_POLICY.ca).toBeUndefined();
  });
});

describe("Client ID Metadata Document: fetch amplification", () => {
  it("shares one fetch between concurrent requests and waits a minute before retrying a failure", async () => {
    let calls = 0;
    let fail = true;
    const clientId = "https://agent.example.test/amplify.json";
    const fetcher = async () => {
      calls++;
      await new Promise((r) => setTimeout(r, 50));
      if (fail) throw new Error("unreachable");
      return { document: documentFor(clientId), cacheSeconds: 300 };
    };
    const results = await Promise.all(Array.from({ length: 10 }, () => resolveClient(ctx, clientId, fetcher)));
    expect(results).toEqual(Array(10).fill(null));
    expect(calls).toBe(1);
    fail = false;
    expect(await resolveClient(ctx, clientId, fetcher)).toBeNull();
    expect(calls).toBe(1);
    ctx.advance(60_001);
    expect((await resolveClient(ctx, clientId, fetcher))?.clientName).toBe("Example Agent");
    expect(calls).toBe(2);
  });
});

describe("Client ID Metadata Document: SSRF defences", () => {
  it("refuses a host that resolves to loopback under the production address policy, without connecting", async () => {
    const { port, requests } = await startDocumentServer(serveJson({}));
    const fetcher = createMetadataDocumentFetcher({ resolve: toLoopback, ca: tls.cert });
    await expect(fetcher(`https://${HOST}:${port}/client.json`)).rejects.toThrow("the host resolves to a non-public address (127.0.0.1)");
    expect(requests).toHaveLength(0);
  });

  it("refuses when any of several addresses is private (no mixing public and private answers)", async () => {
    const fetcher = createMetadataDocumentFetcher({
      resolve: async () => [{ address: "93.184.216.34", family: 4 }, { address: "10.0.0.5", family: 4 }],
    });
    await expect(fetcher("https://mixed.example.test/client.json")).rejects.toThrow("the host resolves to a non-public address (10.0.0.5)");
  });

  it("refuses IP literals in private ranges", async () => {
    const fetcher = createMetadataDocumentFetcher();
    await expect(fetcher("https://169.254.169.254/latest/meta-data")).rejects.toThrow("non-public address (169.254.169.254)");
    await expect(fetcher("https://[::1]/client.json")).rejects.toThrow("non-public address (::1)");
  });

  it("classifies addresses", () => {
    for (const ip of ["127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
      "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:7f00:1",
      "::ffff:10.0.0.1", "64:ff9b::a00:1", "not-an-ip"]) {
      expect(isPublicAddress(ip), ip).toBe(false);
    }
    for (const ip of ["93.184.216.34", "8.8.8.8", "172.32.0.1", "2606:4700::1111", "::ffff:8.8.8.8"]) {
      expect(isPublicAddress(ip), ip).toBe(true);
    }
  });

  it("does not follow redirects", async () => {
    const { port, requests } = await startDocumentServer((req, res) => {
      if (req.url === "/client.json") {
        res.writeHead(302, { Location: "/elsewhere.json" });
        res.end();
      } else serveJson({})(req, res);
    });
    await expect(testFetcher()(`https://${HOST}:${port}/client.json`)).rejects.toThrow("the document answered HTTP 302");
    expect(requests).toEqual(["/client.json"]);
  });

  it("gives up after the timeout", async () => {
    const { port } = await startDocumentServer(() => undefined);
    const started = Date.now();
    await expect(testFetcher({ timeoutMs: 300 })(`https://${HOST}:${port}/client.json`)).rejects.toThrow("the fetch timed out");
    expect(Date.now() - started).toBeLessThan(2000);
    expect(PRODUCTION_FETCH_POLICY.timeoutMs).toBe(5000);
  });

  it("refuses documents larger than 64 KB, declared or streamed", async () => {
    const big = JSON.stringify({ padding: "x".repeat(70 * 1024) });
    const declared = await startDocumentServer(serveJson(JSON.parse(big)));
    await expect(testFetcher()(`https://${HOST}:${declared.port}/c.json`)).rejects.toThrow("the document is too large");
    const streamed = await startDocumentServer((_req, res) => {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.write(big.slice(0, 40_000));
      res.end(big.slice(40_000));
    });
    await expect(testFetcher()(`https://${HOST}:${streamed.port}/c.json`)).rejects.toThrow("the document is too large");
    expect(PRODUCTION_FETCH_POLICY.maxBytes).toBe(65536);
  });

  it("refuses a certificate it does not trust", async () => {
    const { port } = await startDocumentServer(serveJson({}));
    const fetcher = createMetadataDocumentFetcher({ resolve: toLoopback, isAllowedAddress: () => true });
    await expect(fetcher(`https://${HOST}:${port}/client.json`)).rejects.toThrow(/the fetch failed: self[- ]signed certificate/);
  });

  it("refuses content that is not JSON", async () => {
    const { port } = await startDocumentServer((_req, res) => {
      res.writeHead(200, { "Content-Type": "text/html" });
      res.end("<html></html>");
    });
    await expect(testFetcher()(`https://${HOST}:${port}/c.json`)).rejects.toThrow("the document is not JSON (text/html)");
  });
});

describe("Client ID Metadata Document: URL and content rules", () => {
  it("accepts only https URLs with a path, no fragment, credentials or dot segments", () => {
    expect(checkClientIdUrl("https://agent.example/client.json")).toBeNull();
    expect(checkClientIdUrl("http://agent.example/client.json")).toBe("not https");
    expect(checkClientIdUrl("https://agent.example/")).toBe("has no path");
    expect(checkClientIdUrl("https://agent.example")).toBe("has no path");
    expect(checkClientIdUrl("https://agent.example/c.json#x")).toBe("has a fragment");
    expect(checkClientIdUrl("https://u:p@agent.example/c.json")).toBe("has user information");
    expect(checkClientIdUrl("https://agent.example/a/../c.json")).toMatch(/^has dot segments/);
    expect(checkClientIdUrl("https://agent.example/./c.json")).toMatch(/^has dot segments/);
  });

  const invalid: Array<[string, (id: string) => unknown]> = [
    ["a client_id that differs from the URL", (id) => documentFor(id + "?x=1")],
    ["a client_id differing only by a trailing slash", (id) => documentFor(id + "/")],
    ["no client_name", (id) => documentFor(id, { client_name: undefined })],
    ["no redirect_uris", (id) => documentFor(id, { redirect_uris: undefined })],
    ["a javascript: redirect URI", (id) => documentFor(id, { redirect_uris: ["javascript:alert(1)"] })],
    ["private_key_jwt authentication", (id) => documentFor(id, { token_endpoint_auth_method: "private_key_jwt" })],
    ["client_secret_basic authentication", (id) => documentFor(id, { token_endpoint_auth_method: "client_secret_basic" })],
    ["a client_secret", (id) => documentFor(id, { client_secret: "s3cret" })],
    ["an array", () => []],
  ];
  for (const [name, build] of invalid) {
    it(`refuses a document with ${name}`, async () => {
      let clientId = "";
      const { port } = await startDocumentServer((req, res) => serveJson(build(clientId))(req, res));
      clientId = `https://${HOST}:${port}/client.json`;
      expect(await resolveClient(ctx, clientId, testFetcher())).toBeNull();
      expect(ctx.db.select().from(oauthClients).all()).toHaveLength(0);
    });
  }

  it("never fetches for a client id that is not an https URL", async () => {
    let called = false;
    const fetcher = async () => {
      called = true;
      return { document: {}, cacheSeconds: 300 };
    };
    expect(await resolveClient(ctx, "http://agent.example/client.json", fetcher)).toBeNull();
    expect(await resolveClient(ctx, "unknown-registered-id", fetcher)).toBeNull();
    expect(called).toBe(false);
  });
});
