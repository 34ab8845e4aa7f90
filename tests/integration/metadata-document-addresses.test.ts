import { describe, expect, it } from "vitest";
import {
  addressProblem,
  boundedResolver,
  checkClientIdUrl,
  createMetadataDocumentFetcher,
  isPublicAddress,
  type Resolver,
} from "~/oauth/metadata-document-fetch.server";

/**
 * Decision 027: the metadata-document fetcher judges an address by what it really reaches.
 * Only the classifier is exercised here: no test sends a packet to any of these addresses (they
 * would leave the machine), and the fetches below fail before connecting.
 */

describe("decision 027: the address classifier sees through IPv6 wrappers", () => {
  const refused: [string, string][] = [
    // IPv4 special-purpose ranges
    ["0.0.0.0", "this network"],
    ["0.1.2.3", "this network"],
    ["10.0.0.1", "RFC 1918"],
    ["100.64.0.1", "CGNAT"],
    ["100.127.255.254", "CGNAT"],
    ["127.0.0.1", "loopback"],
    ["127.255.255.254", "loopback"],
    ["169.254.169.254", "link-local / cloud metadata"],
    ["172.16.0.1", "RFC 1918"],
    ["172.31.255.255", "RFC 1918"],
    ["192.0.0.8", "IETF protocol assignments"],
    ["192.0.2.1", "documentation"],
    ["192.88.99.1", "6to4 relay"],
    ["192.168.1.1", "RFC 1918"],
    ["198.18.0.1", "benchmarking"],
    ["198.19.255.255", "benchmarking"],
    ["198.51.100.7", "documentation"],
    ["203.0.113.9", "documentation"],
    ["224.0.0.1", "multicast"],
    ["239.255.255.250", "multicast"],
    ["240.0.0.1", "reserved"],
    ["255.255.255.255", "broadcast"],
    // IPv6 plain
    ["::", "unspecified"],
    ["::1", "loopback"],
    ["0:0:0:0:0:0:0:1", "loopback, long form"],
    ["0000:0000:0000:0000:0000:0000:0000:0001", "loopback, zero-padded"],
    ["fe80::1", "link-local"],
    ["FE80::abcd", "link-local, upper case"],
    ["febf::1", "link-local, end of range"],
    ["fe80::1%eth0", "scoped"],
    ["fec0::1", "site-local"],
    ["fc00::1", "unique-local"],
    ["fd12:3456:789a::1", "unique-local"],
    ["ff02::1", "multicast"],
    ["ff0e::1", "global multicast"],
    ["100::1", "discard"],
    ["2001:db8::1", "documentation"],
    ["3fff::1", "documentation (RFC 9637)"],
    ["2001:2::1", "benchmarking"],
    ["2001:20::1", "ORCHIDv2"],
    ["2001:10::1", "ORCHID"],
    ["64:ff9b:1::a00:1", "local-use NAT64"],
    ["64:ff9b:1:ffff::1", "local-use NAT64"],
    ["4000::1", "outside 2000::/3"],
    ["::2:3:4:5", "reserved ::/8"],
    // IPv4-mapped, in every spelling
    ["::ffff:127.0.0.1", "mapped, dotted"],
    ["::ffff:7f00:1", "mapped, hex"],
    ["::FFFF:7F00:0001", "mapped, upper case, padded"],
    ["0:0:0:0:0:ffff:7f00:1", "mapped, long form"],
    ["0000:0000:0000:0000:0000:ffff:127.0.0.1", "mapped, padded, dotted"],
    ["::ffff:10.0.0.1", "mapped RFC 1918"],
    ["::ffff:a9fe:a9fe", "mapped metadata service"],
    ["::ffff:0.0.0.0", "mapped unspecified"],
    // IPv4-translated (RFC 2765) and IPv4-compatible (deprecated)
    ["::ffff:0:7f00:1", "translated loopback"],
    ["::ffff:0:127.0.0.1", "translated loopback, dotted"],
    ["::ffff:0:a00:1", "translated RFC 1918"],
    ["::7f00:1", "compatible loopback"],
    ["::127.0.0.1", "compatible loopback, dotted"],
    ["::a9fe:a9fe", "compatible metadata service"],
    ["::8.8.8.8", "compatible, even public (deprecated form)"],
    // NAT64 well-known prefix
    ["64:ff9b::7f00:1", "NAT64 loopback"],
    ["64:ff9b::127.0.0.1", "NAT64 loopback, dotted"],
    ["64:ff9b::a00:1", "NAT64 RFC 1918"],
    ["64:ff9b::a9fe:a9fe", "NAT64 metadata service"],
    // 6to4
    ["2002:7f00:1::", "6to4 loopback"],
    ["2002:7f00:0001:0000::1", "6to4 loopback, padded"],
    ["2002:a00:1::1", "6to4 RFC 1918"],
    ["2002:a9fe:a9fe::", "6to4 metadata service"],
    ["2002:808:808::1", "6to4 of a public address (relayed)"],
    // Teredo: server in bits 32-63, client in the last 32 bits inverted
    ["2001:0:4136:e378:8000:63bf:80ff:fffe", "Teredo, client 127.0.0.1"],
    ["2001:0:7f00:1::1", "Teredo, server 127.0.0.1"],
    ["2001::f5ff:fffe", "Teredo, client 10.0.0.1"],
    ["2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo, public client (relayed)"],
    // ISATAP interface identifiers
    ["2606:4700::5efe:7f00:1", "ISATAP loopback"],
    ["2606:4700::200:5efe:a00:1", "ISATAP RFC 1918"],
    // Not addresses
    ["not-an-ip", "a name"],
    ["127.1", "short IPv4 form"],
    ["0x7f.0.0.1", "hex IPv4 form"],
    ["", "empty"],
  ];

  it.each(refused)("refuses %s (%s)", (address) => {
    expect(isPublicAddress(address)).toBe(false);
    expect(addressProblem(address)).toEqual(expect.any(String));
  });

  it.each([
    ["93.184.216.34"],
    ["8.8.8.8"],
    ["1.1.1.1"],
    ["172.32.0.1"],
    ["100.128.0.1"],
    ["198.20.0.1"],
    ["2606:4700::1111"],
    ["2a00:1450:4001:81c::200e"],
    ["2606:4700:0000:0000:0000:0000:0000:1111"],
    ["::ffff:8.8.8.8"],
    ["::ffff:808:808"],
    ["::ffff:0:808:808"],
    ["64:ff9b::808:808"],
  ])("accepts the public %s", (address) => {
    expect(addressProblem(address)).toBeNull();
  });

  it("names the embedded address in the reason", async () => {
    expect(addressProblem("::ffff:0:7f00:1")).toBe(
      "IPv4-translated IPv6 address embedding the non-public 127.0.0.1",
    );
    expect(addressProblem("2002:7f00:1::")).toBe("6to4 IPv6 address embedding the non-public 127.0.0.1");
    expect(addressProblem("2001:0:4136:e378:8000:63bf:80ff:fffe")).toBe(
      "Teredo IPv6 address embedding the non-public 127.0.0.1",
    );
  });

  it("an IP-literal client id in a wrapper form is refused before any connection", async () => {
    const fetcher = createMetadataDocumentFetcher();
    for (const host of [
      "[::ffff:7f00:1]",
      "[::7f00:1]",
      "[::ffff:0:7f00:1]",
      "[2002:7f00:1::]",
      "[64:ff9b::a9fe:a9fe]",
      "[2001::f5ff:fffe]",
    ]) {
      await expect(fetcher(`https://${host}/client.json`), host).rejects.toThrow(/non-public address/);
    }
  });

  it("a host name resolving to a wrapped private address is refused before any connection", async () => {
    const fetcher = createMetadataDocumentFetcher({
      resolve: async () => [{ address: "::ffff:0:a9fe:a9fe", family: 6 }],
    });
    await expect(fetcher("https://wrapped.example.test/client.json")).rejects.toThrow(
      "the host resolves to a non-public address (::ffff:0:a9fe:a9fe): IPv4-translated IPv6 address embedding the non-public 169.254.169.254",
    );
  });
});

describe("decision 027: client ids with dot segments are refused in every spelling", () => {
  it.each([
    "https://agent.example/a/../b.json",
    "https://agent.example/a/./b.json",
    "https://agent.example/a/%2e%2e/b.json",
    "https://agent.example/a/%2E%2E/b.json",
    "https://agent.example/a/.%2e/b.json",
    "https://agent.example/a/%2e./b.json",
    "https://agent.example/a/%2e/b.json",
    "https://agent.example/a/..",
    "https://agent.example/a/..?x=1",
    "https://agent.example/./",
    "HTTPS://AGENT.EXAMPLE/a/%2e%2E/b.json",
    "https://agent.example:443/a/../b.json",
  ])("refuses %s, saying why", (id) => {
    expect(checkClientIdUrl(id)).toMatch(
      /^has dot segments .*URL parsers remove: the document would be fetched from another path/,
    );
  });

  it.each([
    "https://agent.example/a\\..\\b.json",
    "https://agent.example/a/.\t./b.json",
    "https://agent.example/a/.\n./b.json",
    "https://agent.example/a b.json",
  ])("refuses what a URL parser would rewrite: %j", (id) => {
    expect(checkClientIdUrl(id)).toBe("has spaces, control characters or backslashes");
  });

  it.each([
    "https://agent.example/a/...json",
    "https://agent.example/.well-known/client.json",
    "https://agent.example/a/..b/c.json",
    "https://agent.example/a?x=/../y",
  ])("accepts %s (no dot segment in the path)", (id) => {
    expect(checkClientIdUrl(id)).toBeNull();
  });
});

describe("decision 027: DNS lookups are bounded in time and number", () => {
  const never: Resolver = () => new Promise(() => undefined);

  it("a resolver that never answers fails the fetch within the DNS timeout", async () => {
    const fetcher = createMetadataDocumentFetcher({ resolve: never, dnsTimeoutMs: 150 });
    const t0 = performance.now();
    await expect(fetcher("https://silent.example.test/client.json")).rejects.toThrow("DNS lookup timed out");
    expect(performance.now() - t0).toBeLessThan(2_000);
  });

  it("lookups beyond the limit wait for a place and are refused past the queue, never spread over the pool", async () => {
    let started = 0;
    let maxRunning = 0;
    let running = 0;
    const pending: (() => void)[] = [];
    // Lookups that end only when the test says so, like getaddrinfo on a dead name server.
    const slow: Resolver = () => {
      started++;
      running++;
      maxRunning = Math.max(maxRunning, running);
      return new Promise((resolve) =>
        pending.push(() => {
          running--;
          resolve([{ address: "93.184.216.34", family: 4 }]);
        }),
      );
    };
    const resolve = boundedResolver({
      resolve: slow,
      dnsTimeoutMs: 300,
      maxConcurrentLookups: 2,
      maxQueuedLookups: 3,
    });
    const results = Array.from({ length: 8 }, (_, i) =>
      resolve(`host${i}.example.test`).then(
        () => "ok",
        (e: Error) => e.message,
      ),
    );
    await new Promise((r) => setTimeout(r, 10));
    expect(started).toBe(2);
    const outcomes = await Promise.all(results);
    // Two ran and timed out, three waited and timed out, three were refused at once.
    expect(outcomes.filter((o) => o === "too many DNS lookups in progress")).toHaveLength(3);
    expect(outcomes.filter((o) => o === "DNS lookup timed out")).toHaveLength(5);
    // The callers have their answers, but the two lookups still hold their places: nothing new started.
    expect(started).toBe(2);
    expect(await resolve("late.example.test").catch((e: Error) => e.message)).toBe("DNS lookup timed out");
    expect(started).toBe(2);
    // Once the stuck lookups end, their places go to new ones.
    for (const finish of pending.splice(0)) finish();
    await new Promise((r) => setTimeout(r, 0));
    const next = resolve("after.example.test");
    await new Promise((r) => setTimeout(r, 0));
    expect(started).toBe(3);
    pending.shift()!();
    expect(await next).toEqual([{ address: "93.184.216.34", family: 4 }]);
    expect(maxRunning).toBe(2);
  });

  it("the production policy bounds lookups", async () => {
    const { PRODUCTION_FETCH_POLICY } = await import("~/oauth/metadata-document-fetch.server");
    expect(PRODUCTION_FETCH_POLICY.dnsTimeoutMs).toBeLessThanOrEqual(5_000);
    // libuv's pool has 4 threads by default: DNS may hold at most half of them.
    expect(PRODUCTION_FETCH_POLICY.maxConcurrentLookups).toBeLessThanOrEqual(2);
  });
});
