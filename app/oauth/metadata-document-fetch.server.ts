/**
 * Fetches Client ID Metadata Documents (docs/decisions/007-metadata-document-fetch-policy.md).
 *
 * The client id is an attacker-chosen URL that our server fetches, so this is an SSRF surface:
 * https only, no redirects followed, every resolved address checked against private, loopback,
 * link-local, unique-local and multicast ranges, and the connection made to the very address that
 * was checked (no second DNS lookup, so no rebinding window). Timeout, size cap, JSON only.
 *
 * The resolver, the address policy and the TLS trust are parameters so tests can run the rules
 * against real local servers; the production defaults are never weakened by them.
 */
import dns from "node:dns";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import ipaddr from "ipaddr.js";
import { JsonTooDeepError, parseUntrustedJson } from "~/utils/json.server";

export type ResolvedAddress = { address: string; family: 4 | 6 };
/** dns.lookup(hostname, { all: true })-shaped. */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export type FetchPolicy = {
  resolve: Resolver;
  /** Whether the fetcher may connect to this address. */
  isAllowedAddress: (address: string) => boolean;
  /** Extra CA certificates to trust (tests: a local test CA). */
  ca?: string | Buffer;
  /** Tests only: speak plain http to the resolved address (the URL must still be https). */
  plainHttpPort?: number;
  timeoutMs: number;
  /** A lookup that has not answered by then fails the fetch. */
  dnsTimeoutMs: number;
  /**
   * Lookups running at once. dns.lookup runs getaddrinfo on libuv's thread pool (4 threads by
   * default), which scrypt password hashing and file access share: a slow name server must not
   * hold more than this many of them. A lookup keeps its place until it really ends, even after
   * the fetch gave up on it.
   */
  maxConcurrentLookups: number;
  /** Lookups waiting for a place; beyond this a fetch fails at once. */
  maxQueuedLookups: number;
  maxBytes: number;
  minCacheSeconds: number;
  maxCacheSeconds: number;
};

export type FetchedDocument = {
  document: unknown;
  /** How long the document may be used before it is fetched again. */
  cacheSeconds: number;
};

/** Why a document could not be used; safe to log, shown to nobody. */
export class MetadataDocumentError extends Error {
  override name = "MetadataDocumentError";
}

/** An image fetched under the same rules (a client's logo_uri); the caller checks what it is. */
export type FetchedImage = { bytes: Buffer; contentType: string | undefined };

export type MetadataDocumentFetcher = ((url: string) => Promise<FetchedDocument>) & {
  /** Fetches a client's logo under the fetcher's policy (https, public addresses, caps). */
  fetchLogo?: (url: string) => Promise<FetchedImage>;
};

/** The largest logo accepted. */
export const MAX_LOGO_BYTES = 256 * 1024;

const systemResolver: Resolver = async (hostname) => {
  const results = await dns.promises.lookup(hostname, { all: true, verbatim: true });
  return results.map((r) => ({ address: r.address, family: r.family === 6 ? 6 : 4 }));
};

// IPv4 special-purpose ranges that are not globally reachable (IANA IPv4 Special-Purpose Address
// Registry, RFC 6890 and successors).
const blockedIpv4 = new net.BlockList();
for (const [prefix, bits] of [
  ["0.0.0.0", 8], // "this" network
  ["10.0.0.0", 8], // RFC 1918
  ["100.64.0.0", 10], // carrier-grade NAT
  ["127.0.0.0", 8], // loopback
  ["169.254.0.0", 16], // link-local (cloud metadata services live here)
  ["172.16.0.0", 12], // RFC 1918
  ["192.0.0.0", 24], // IETF protocol assignments
  ["192.0.2.0", 24], // documentation
  ["192.88.99.0", 24], // 6to4 relay anycast (deprecated)
  ["192.168.0.0", 16], // RFC 1918
  ["198.18.0.0", 15], // benchmarking
  ["198.51.100.0", 24], // documentation
  ["203.0.113.0", 24], // documentation
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, and 255.255.255.255 broadcast
] as const) {
  blockedIpv4.addSubnet(prefix, bits, "ipv4");
}

// IPv6 ranges refused inside 2000::/3 (the only global unicast space; everything outside it is
// refused unless it embeds an IPv4 address, below).
const blockedGlobalIpv6 = new net.BlockList();
for (const [prefix, bits] of [
  ["2001::", 23], // IETF protocol assignments: Teredo 2001::/32, benchmarking, ORCHID(v2), ...
  ["2001:db8::", 32], // documentation
  ["3fff::", 20], // documentation (RFC 9637)
] as const) {
  blockedGlobalIpv6.addSubnet(prefix, bits, "ipv6");
}

const ipv4FromBits = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;

/**
 * The IPv4 address an IPv6 address carries, by the form that carries it: IPv4-mapped
 * (::ffff:0:0/96), IPv4-translated (::ffff:0:0:0/96), IPv4-compatible (::/96), NAT64
 * (64:ff9b::/96), 6to4 (2002::/16, bits 16-47), Teredo (2001::/32: the server in bits 32-63 and the
 * client in the last 32 bits inverted), ISATAP (an interface identifier of [02]00:5efe). Parsed by
 * ipaddr.js, so every spelling (zero-padded, upper case, dotted or hex tail) gives the same parts.
 */
export function embeddedIpv4(parts: number[]): { form: string; addresses: string[] } | null {
  const [p0, p1, p2, p3, p4, p5, p6, p7] = parts as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const zeros = (n: number) => parts.slice(0, n).every((x) => x === 0);
  if (zeros(5) && p5 === 0xffff) return { form: "IPv4-mapped", addresses: [ipv4FromBits(p6, p7)] };
  if (zeros(4) && p4 === 0xffff && p5 === 0)
    return { form: "IPv4-translated", addresses: [ipv4FromBits(p6, p7)] };
  if (zeros(6)) return { form: "IPv4-compatible", addresses: [ipv4FromBits(p6, p7)] };
  if (p0 === 0x64 && p1 === 0xff9b && p2 === 0 && p3 === 0 && p4 === 0 && p5 === 0)
    return { form: "NAT64", addresses: [ipv4FromBits(p6, p7)] };
  if (p0 === 0x2002) return { form: "6to4", addresses: [ipv4FromBits(p1, p2)] };
  if (p0 === 0x2001 && p1 === 0)
    return { form: "Teredo", addresses: [ipv4FromBits(p2, p3), ipv4FromBits(p6 ^ 0xffff, p7 ^ 0xffff)] };
  if ((p4 === 0 || p4 === 0x200) && p5 === 0x5efe)
    return { form: "ISATAP", addresses: [ipv4FromBits(p6, p7)] };
  return null;
}

/**
 * Why the fetcher must not connect to `address`, or null for a globally routable unicast address.
 * An IPv6 address that embeds an IPv4 address is judged by that address (and refused when the
 * embedded one is refused); the remaining IPv6 space must be global unicast (2000::/3) outside
 * the special-purpose blocks.
 */
export function addressProblem(address: string): string | null {
  const version = net.isIP(address);
  if (version === 0) return "not an IP address";
  if (version === 6 && /^[0:]*:(0*1)?$/.test(address)) return "the IPv6 loopback or unspecified address";
  if (version === 4) return blockedIpv4.check(address, "ipv4") ? "a non-public IPv4 address" : null;
  // A zone (fe80::1%eth0) names a local interface: never a public destination.
  if (address.includes("%")) return "a scoped IPv6 address";
  let parsed: ipaddr.IPv6;
  try {
    // The WHATWG URL parser reads a dotted tail as the last 32 bits (RFC 4291 §2.2), as the
    // socket will; ipaddr.js would read "::1.2.3.4" as IPv4-mapped. Its hex output is then parsed
    // into the eight 16-bit parts.
    parsed = ipaddr.IPv6.parse(new URL(`http://[${address}]/`).hostname.slice(1, -1));
  } catch {
    return "not an IP address";
  }
  const embedded = embeddedIpv4(parsed.parts);
  if (embedded) {
    const refused = embedded.addresses.find((v4) => blockedIpv4.check(v4, "ipv4"));
    if (refused) return `${embedded.form} IPv6 address embedding the non-public ${refused}`;
    // 6to4, Teredo and ISATAP relay through third parties; only the forms that name the
    // IPv4 destination itself are accepted when it is public.
    if (embedded.form === "6to4" || embedded.form === "Teredo" || embedded.form === "ISATAP")
      return `${embedded.form} IPv6 address (relayed by third parties)`;
    if (embedded.form === "IPv4-compatible") return "IPv4-compatible IPv6 address (deprecated)";
    return null;
  }
  if (parsed.parts[0]! >> 13 !== 0b001) return "a non-global IPv6 address";
  if (blockedGlobalIpv6.check(parsed.toNormalizedString(), "ipv6")) return "a special-purpose IPv6 address";
  return null;
}

/** True for a globally routable unicast address (addressProblem is null). */
export function isPublicAddress(address: string): boolean {
  return addressProblem(address) === null;
}

export const PRODUCTION_FETCH_POLICY: FetchPolicy = Object.freeze({
  resolve: systemResolver,
  isAllowedAddress: isPublicAddress,
  timeoutMs: 5000,
  dnsTimeoutMs: 2000,
  maxConcurrentLookups: 2,
  maxQueuedLookups: 16,
  maxBytes: 64 * 1024,
  minCacheSeconds: 300,
  maxCacheSeconds: 24 * 3600,
});

/** A path segment that URL parsers treat as "." or "..": `.`, `%2e`, `.%2E`, `%2e%2e`, ... */
const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;

/**
 * Client ID Metadata Document URL rules: https, a path, no fragment, no credentials, no dot
 * segments. Returns the reason it is not acceptable, or null.
 *
 * Dot segments are looked for in the raw string: `new URL` removes them (also spelled `%2e`, and
 * after a backslash, which it reads as a slash, or with tabs and newlines, which it drops), so the
 * document would be fetched from another path than the one the client id names.
 */
export function checkClientIdUrl(clientId: string): string | null {
  if (clientId.length > 2000) return "too long";
  if (/[\u0000-\u0020\u007f\\]/.test(clientId)) return "has spaces, control characters or backslashes";
  let url: URL;
  try {
    url = new URL(clientId);
  } catch {
    return "not a URL";
  }
  if (url.protocol !== "https:") return "not https";
  if (clientId.includes("#")) return "has a fragment";
  if (url.username || url.password) return "has user information";
  const rawPath = clientId.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?]*/i, "").split("?")[0]!;
  if (rawPath.split("/").some((segment) => DOT_SEGMENT.test(segment))) {
    return "has dot segments (such as /../ or /%2e%2e/), which URL parsers remove: the document would be fetched from another path than the client id names";
  }
  if (url.pathname === "/" || url.pathname === "") return "has no path";
  return null;
}

/** Cache lifetime from Cache-Control, clamped to the policy's bounds. */
export function cacheSecondsFrom(
  cacheControl: string | undefined,
  policy: Pick<FetchPolicy, "minCacheSeconds" | "maxCacheSeconds">,
): number {
  const value = cacheControl?.toLowerCase() ?? "";
  let seconds = 3600;
  if (/\b(no-store|no-cache)\b/.test(value)) seconds = 0;
  else {
    const m = /\bmax-age\s*=\s*"?(\d+)"?/.exec(value);
    if (m) seconds = Number(m[1]);
  }
  return Math.min(policy.maxCacheSeconds, Math.max(policy.minCacheSeconds, seconds));
}

/** Builds a fetcher. Pass overrides only in tests. */
export function createMetadataDocumentFetcher(overrides: Partial<FetchPolicy> = {}): MetadataDocumentFetcher {
  const policy: FetchPolicy = { ...PRODUCTION_FETCH_POLICY, ...overrides };
  const bounded = { ...policy, resolve: boundedResolver(policy) };
  const fetcher: MetadataDocumentFetcher = (clientId) => fetchMetadataDocument(clientId, bounded);
  fetcher.fetchLogo = (url) => fetchLogo(url, { ...bounded, maxBytes: MAX_LOGO_BYTES });
  return fetcher;
}

/** A logo URL: https, no credentials, not absurdly long. Returns the reason it is not acceptable, or null. */
export function checkLogoUrl(value: string): string | null {
  if (value.length > 2000) return "too long";
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return "not a URL";
  }
  if (url.protocol !== "https:") return "not https";
  if (url.username || url.password) return "has user information";
  return null;
}

async function fetchLogo(value: string, policy: FetchPolicy): Promise<FetchedImage> {
  const problem = checkLogoUrl(value);
  if (problem) throw new MetadataDocumentError(`logo URL ${problem}`);
  const response = await fetchUnderPolicy(new URL(value), policy, "image/png, image/jpeg, image/gif, image/webp");
  if (response.status !== 200) throw new MetadataDocumentError(`the logo answered HTTP ${response.status}`);
  return { bytes: response.body, contentType: response.contentType };
}

/**
 * The policy's resolver within its time and concurrency bounds: at most `maxConcurrentLookups`
 * lookups run (a place is freed only when the lookup itself settles), at most `maxQueuedLookups`
 * wait, and every caller gets an answer or an error within `dnsTimeoutMs`.
 */
export function boundedResolver(
  policy: Pick<FetchPolicy, "resolve" | "dnsTimeoutMs" | "maxConcurrentLookups" | "maxQueuedLookups">,
): Resolver {
  let running = 0;
  const waiting: (() => void)[] = [];
  const release = () => {
    running--;
    waiting.shift()?.();
  };
  return (hostname) =>
    new Promise<ResolvedAddress[]>((resolve, reject) => {
      let done = false;
      const finish = (fn: () => void) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        fn();
      };
      const start = () => {
        running++;
        policy
          .resolve(hostname)
          .then(
            (addresses) => finish(() => resolve(addresses)),
            (error: unknown) => finish(() => reject(error)),
          )
          .finally(release);
      };
      const timer = setTimeout(() => {
        const i = waiting.indexOf(start);
        if (i >= 0) waiting.splice(i, 1);
        finish(() => reject(new MetadataDocumentError("DNS lookup timed out")));
      }, policy.dnsTimeoutMs);
      if (running < policy.maxConcurrentLookups) start();
      else if (waiting.length < policy.maxQueuedLookups) waiting.push(start);
      else finish(() => reject(new MetadataDocumentError("too many DNS lookups in progress")));
    });
}

async function fetchMetadataDocument(clientId: string, policy: FetchPolicy): Promise<FetchedDocument> {
  const problem = checkClientIdUrl(clientId);
  if (problem) throw new MetadataDocumentError(`client id URL ${problem}`);
  const response = await fetchUnderPolicy(new URL(clientId), policy, "application/json");
  // No redirects (they would lead the fetch past the address check) and no error pages.
  if (response.status !== 200) throw new MetadataDocumentError(`the document answered HTTP ${response.status}`);
  const type = (response.contentType ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/json" && !/^application\/[\w.+-]+\+json$/.test(type)) {
    throw new MetadataDocumentError(`the document is not JSON (${type || "no content type"})`);
  }
  let document: unknown;
  try {
    document = parseUntrustedJson(response.body.toString("utf8"));
  } catch (error) {
    throw new MetadataDocumentError(error instanceof JsonTooDeepError ? `the document is ${error.message}` : "the document is not valid JSON");
  }
  return { document, cacheSeconds: cacheSecondsFrom(response.cacheControl, policy) };
}

/**
 * One GET under the policy, for documents and logos alike: every resolved address allowed, the
 * connection made to the checked address, no redirects followed, the time and size caps.
 */
async function fetchUnderPolicy(url: URL, policy: FetchPolicy, accept: string): Promise<RawResponse> {
  const hostname = url.hostname.replace(/^\[|\]$/g, "");

  const deadline = Date.now() + policy.timeoutMs;
  let addresses: ResolvedAddress[];
  if (net.isIP(hostname)) addresses = [{ address: hostname, family: net.isIPv6(hostname) ? 6 : 4 }];
  else {
    addresses = await policy.resolve(hostname).catch((e: unknown) => {
      throw e instanceof MetadataDocumentError
        ? e
        : new MetadataDocumentError(`DNS lookup failed: ${(e as Error).message}`);
    });
  }
  if (addresses.length === 0) throw new MetadataDocumentError("the host has no address");
  // Every address must be allowed: otherwise an attacker would mix a public and a private one.
  const refused = addresses.find((a) => !policy.isAllowedAddress(a.address));
  if (refused) {
    const why = addressProblem(refused.address);
    throw new MetadataDocumentError(
      `the host resolves to a non-public address (${refused.address})${why ? `: ${why}` : ""}`,
    );
  }
  const target = addresses[0]!;

  return request(url, target, policy, Math.max(1, deadline - Date.now()), accept);
}

type RawResponse = { status: number; contentType?: string; cacheControl?: string; body: Buffer };

function request(url: URL, target: ResolvedAddress, policy: FetchPolicy, timeoutMs: number, accept: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    // Connect to the address we checked, whatever DNS says now (no rebinding window).
    const lookup = (_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
      if (options?.all) callback(null, [{ address: target.address, family: target.family }]);
      else callback(null, target.address, target.family);
    };
    const common = {
      method: "GET",
      path: url.pathname + url.search,
      headers: { Accept: accept, "User-Agent": "Toolgate (client metadata fetch)", Host: url.host },
      lookup: lookup as unknown as typeof dns.lookup,
    };
    const req =
      policy.plainHttpPort !== undefined
        ? http.request({ ...common, host: url.hostname, port: policy.plainHttpPort })
        : https.request({
            ...common,
            host: url.hostname,
            port: url.port || 443,
            servername: net.isIP(url.hostname) ? undefined : url.hostname,
            ...(policy.ca ? { ca: policy.ca } : {}),
            agent: false,
          });
    const timer = setTimeout(() => req.destroy(new MetadataDocumentError("the fetch timed out")), timeoutMs);
    req.on("error", (error) => {
      clearTimeout(timer);
      reject(
        error instanceof MetadataDocumentError
          ? error
          : new MetadataDocumentError(`the fetch failed: ${error.message}`),
      );
    });
    req.on("response", (res) => {
      const length = Number(res.headers["content-length"]);
      if (Number.isFinite(length) && length > policy.maxBytes) {
        req.destroy(new MetadataDocumentError("the document is too large"));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > policy.maxBytes) {
          req.destroy(new MetadataDocumentError("the document is too large"));
          return;
        }
        chunks.push(chunk);
      });
      res.on("end", () => {
        clearTimeout(timer);
        resolve({
          status: res.statusCode ?? 0,
          contentType: res.headers["content-type"],
          cacheControl: res.headers["cache-control"],
          body: Buffer.concat(chunks),
        });
      });
      res.on("close", () => {
        if (!res.complete) {
          clearTimeout(timer);
          reject(new MetadataDocumentError("the connection closed before the document was complete"));
        }
      });
      res.on("error", () => undefined);
    });
    req.end();
  });
}
