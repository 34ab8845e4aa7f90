/**
 * Client ID Metadata Documents: the fetch policy (decision 007) against real local HTTPS servers,
 * with an injected resolver standing in for DNS.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { eq } from "drizzle-orm";
import { oauthClients } from "~/db/schema";
import { registerClient, resolveClient } from "~/oauth/clients.server";
import { clientLogoUrl, findClientLogo, setClientLogo } from "~/oauth/client-logos.server";
import { runOAuthCleanup } from "~/oauth/cleanup.server";
import { loader as logoLoader } from "~/routes/client-logos.$digest";
import {
  cacheSecondsFrom,
  checkClientIdUrl,
  checkLogoUrl,
  MAX_LOGO_BYTES,
  createMetadataDocumentFetcher,
  isPublicAddress,
  PRODUCTION_FETCH_POLICY,
  type Resolver,
} from "~/oauth/metadata-document-fetch.server";
import { createTestContext, type TestContext } from "../helpers/context";

const HOST = "client.example.test";
let tls: { key: string; cert: string };
let tmp: string;

beforeAll(async () => {
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
beforeEach(async () => {
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
    // The host name is not in DNS: the fetch connected to the address the resolver gave, once per
    // host: the document's, then its logo's (agent.example, whose certificate this server lacks).
    expect(lookups).toBe(2);
    expect(requests).toEqual(["/oauth/client.json"]);
    const row = (await ctx.db.select().from(oauthClients).where(eq(oauthClients.id, clientId)).limit(1))[0]!;
    expect(row.expiresAt).toBe(ctx.now() + 600_000);

    ctx.advance(599_000);
    expect(await resolveClient(ctx, clientId, fetcher)).not.toBeNull();
    expect(requests).toHaveLength(1);
    ctx.advance(2000);
    expect(await resolveClient(ctx, clientId, fetcher)).not.toBeNull();
    expect(requests).toHaveLength(2);
  });

  it("bounds the cache lifetime to 5 minutes .. 24 hours", async () => {
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

  it("classifies addresses", async () => {
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
  it("accepts only https URLs with a path, no fragment, credentials or dot segments", async () => {
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
      expect((await ctx.db.select().from(oauthClients))).toHaveLength(0);
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

describe("Client ID Metadata Document: the logo (decision 041)", () => {
  const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(64, 7)]);

  async function resolveWithLogo(serveLogo: Handler, logoPath = "/logo.png", resolver?: Resolver, logoHost = HOST) {
    let clientId = "";
    const { port, requests } = await startDocumentServer((req, res) => {
      if (req.url === "/oauth/client.json") return serveJson(documentFor(clientId, { logo_uri: `https://${logoHost}:${port}${logoPath}` }))(req, res);
      serveLogo(req, res);
    });
    clientId = `https://${HOST}:${port}/oauth/client.json`;
    const client = await resolveClient(ctx, clientId, testFetcher(resolver ? { resolve: resolver } : {}));
    const row = (await ctx.db.select().from(oauthClients).where(eq(oauthClients.id, clientId)).limit(1))[0]!;
    return { client, row, requests, clientId };
  }
  const image = (bytes: Buffer, type: string): Handler => (_req, res) => {
    res.writeHead(200, { "Content-Type": type });
    res.end(bytes);
  };

  it("is fetched under the document rules, checked by its bytes and served from Toolgate's origin", async () => {
    const { client, row, requests, clientId } = await resolveWithLogo(image(PNG, "image/png"));
    expect(client).not.toBeNull();
    expect(requests).toEqual(["/oauth/client.json", "/logo.png"]);
    expect(row.logoDigest).toBe(createHash("sha256").update(PNG).digest("hex"));
    expect(await clientLogoUrl(ctx, clientId)).toBe(`/client-logos/${row.logoDigest}`);
    const res = await logoLoader({ params: { digest: row.logoDigest! }, context: { ctx }, request: new Request("http://localhost/") } as never);
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Type")).toBe("image/png");
    expect(res.headers.get("X-Content-Type-Options")).toBe("nosniff");
    expect(res.headers.get("Content-Security-Policy")).toBe("default-src 'none'; sandbox");
    expect(Buffer.from(await res.arrayBuffer())).toEqual(PNG);
    // Unknown digests and anything that is not one are 404s.
    for (const digest of ["0".repeat(64), "../../secrets.json", row.logoDigest!.toUpperCase()]) {
      const missing = await logoLoader({ params: { digest }, context: { ctx }, request: new Request("http://localhost/") } as never);
      expect(missing.status, digest).toBe(404);
    }
  });

  it("the Content-Type the site claims is not believed: the bytes decide", async () => {
    const { row } = await resolveWithLogo(image(PNG, "text/html"));
    expect((await findClientLogo(ctx, row.logoDigest!))?.contentType).toBe("image/png");
  });

  it.each([
    ["an SVG (it can carry script), even labelled image/png", Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'), "image/png"],
    ["HTML", Buffer.from("<!doctype html><p>hi"), "image/png"],
    ["an empty body", Buffer.alloc(0), "image/png"],
  ])("refuses %s", async (_label, bytes, type) => {
    const { client, row } = await resolveWithLogo(image(bytes, type));
    expect(client).not.toBeNull(); // the client itself is fine, just without a logo
    expect(row.logoDigest).toBeNull();
  });

  it("refuses a logo over the size cap, a redirect, and an error status", async () => {
    const big = Buffer.concat([PNG, Buffer.alloc(MAX_LOGO_BYTES, 1)]);
    expect((await resolveWithLogo(image(big, "image/png"))).row.logoDigest).toBeNull();
    const redirect: Handler = (_req, res) => {
      res.writeHead(302, { Location: "https://elsewhere.example/logo.png" });
      res.end();
    };
    expect((await resolveWithLogo(redirect)).row.logoDigest).toBeNull();
    expect((await resolveWithLogo(image(PNG, "image/png"), "/missing.png")).row.logoDigest).not.toBeNull();
    const notFound: Handler = (_req, res) => {
      res.writeHead(404);
      res.end();
    };
    expect((await resolveWithLogo(notFound)).row.logoDigest).toBeNull();
  });

  it("never fetches a logo on a non-public address or over plain http", async () => {
    let logoRequests = 0;
    const privateLogo = await resolveWithLogo(
      (req, res) => {
        logoRequests++;
        image(PNG, "image/png")(req, res);
      },
      "/logo.png",
      // The document host is reachable; the logo host resolves to a private address.
      async (host) => [{ address: host === HOST ? "127.0.0.1" : "10.0.0.7", family: 4 }],
      "logos.internal.example.test",
    );
    expect(privateLogo.row.logoDigest).toBeNull();
    expect(checkLogoUrl("http://client.example.test/logo.png")).toBe("not https");
    expect(checkLogoUrl("https://user:pw@client.example.test/logo.png")).toBe("has user information");
    expect(logoRequests).toBe(0);
  });

  it("a self-registered client's logo_uri is never fetched or shown", async () => {
    const { response } = await registerClient(ctx, { client_name: "Claims", redirect_uris: ["http://127.0.0.1/cb"], logo_uri: "https://claims.example/logo.png" });
    expect(await clientLogoUrl(ctx, response.client_id as string)).toBeNull();
  });

  it("logos no client points to are pruned by the cleanup", async () => {
    const { clientId, row } = await resolveWithLogo(image(PNG, "image/png"));
    await setClientLogo(ctx, clientId, null);
    expect((await runOAuthCleanup(ctx)).clientLogos).toBe(1);
    expect(await findClientLogo(ctx, row.logoDigest!)).toBeNull();
  });
});
