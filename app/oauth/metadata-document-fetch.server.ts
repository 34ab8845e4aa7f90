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

const blocked = new net.BlockList();
for (const [prefix, bits] of [
  ["0.0.0.0", 8], // "this" network
  ["10.0.0.0", 8], // RFC 1918
  ["100.64.0.0", 10], // carrier-grade NAT
  ["127.0.0.0", 8], // loopback
  ["169.254.0.0", 16], // link-local (cloud metadata services live here)
  ["172.16.0.0", 12], // RFC 1918
  ["192.0.0.0", 24], // IETF protocol assignments
  ["192.0.2.0", 24], // documentation
  ["192.88.99.0", 24], // 6to4 relay anycast
  ["192.168.0.0", 16], // RFC 1918
  ["198.18.0.0", 15], // benchmarking
  ["198.51.100.0", 24], // documentation
  ["203.0.113.0", 24], // documentation
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, broadcast
] as const) {
  blocked.addSubnet(prefix, bits, "ipv4");
}
for (const [prefix, bits] of [
  ["::", 128], // unspecified
  ["::1", 128], // loopback
  ["64:ff9b:1::", 48], // local-use NAT64
  ["100::", 64], // discard
  ["2001:db8::", 32], // documentation
  ["fc00::", 7], // unique local
  ["fe80::", 10], // link-local
  ["fec0::", 10], // site-local (deprecated)
  ["ff00::", 8], // multicast
] as const) {
  blocked.addSubnet(prefix, bits, "ipv6");
}

/** The embedded IPv4 address of an IPv4-mapped, IPv4-compatible or NAT64 IPv6 address. */
function embeddedIpv4(address: string): string | null {
  const lower = address.toLowerCase();
  const dotted = /^(?:::ffff:|::|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted) return dotted[1]!;
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (hex) {
    const hi = parseInt(hex[1]!, 16);
    const lo = parseInt(hex[2]!, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return null;
}

/** True for a globally routable unicast address; false for every range listed above. */
export function isPublicAddress(address: string): boolean {
  const version = net.isIP(address);
  if (version === 4) return !blocked.check(address, "ipv4");
  if (version === 6) {
    const v4 = embeddedIpv4(address);
    if (v4 !== null) return net.isIPv4(v4) && !blocked.check(v4, "ipv4");
    return !blocked.check(address, "ipv6");
  }
  return false;
}

export const PRODUCTION_FETCH_POLICY: FetchPolicy = Object.freeze({
  resolve: systemResolver,
  isAllowedAddress: isPublicAddress,
  timeoutMs: 5000,
  maxBytes: 64 * 1024,
  minCacheSeconds: 300,
  maxCacheSeconds: 24 * 3600,
});

/**
 * Client ID Metadata Document URL rules: https, a path, no fragment, no credentials, no dot
 * segments. Returns the reason it is not acceptable, or null.
 */
export function checkClientIdUrl(clientId: string): string | null {
  if (clientId.length > 2000) return "too long";
  let url: URL;
  try {
    url = new URL(clientId);
  } catch {
    return "not a URL";
  }
  if (url.protocol !== "https:") return "not https";
  if (clientId.includes("#")) return "has a fragment";
  if (url.username || url.password) return "has user information";
  if (url.pathname === "/" || url.pathname === "") return "has no path";
  if (/\/\.\.?(\/|$|\?)/.test(clientId.slice(url.origin.length))) return "has dot segments";
  return null;
}

/** Cache lifetime from Cache-Control, clamped to the policy's bounds. */
export function cacheSecondsFrom(cacheControl: string | undefined, policy: Pick<FetchPolicy, "minCacheSeconds" | "maxCacheSeconds">): number {
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
  const fetcher: MetadataDocumentFetcher = (clientId) => fetchMetadataDocument(clientId, policy);
  fetcher.fetchLogo = (url) => fetchLogo(url, { ...policy, maxBytes: MAX_LOGO_BYTES });
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
    document = JSON.parse(response.body.toString("utf8"));
  } catch {
    throw new MetadataDocumentError("the document is not valid JSON");
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
    addresses = await withTimeout(policy.resolve(hostname), policy.timeoutMs, "DNS lookup timed out").catch((e: unknown) => {
      throw e instanceof MetadataDocumentError ? e : new MetadataDocumentError(`DNS lookup failed: ${(e as Error).message}`);
    });
  }
  if (addresses.length === 0) throw new MetadataDocumentError("the host has no address");
  // Every address must be allowed: otherwise an attacker would mix a public and a private one.
  const refused = addresses.find((a) => !policy.isAllowedAddress(a.address));
  if (refused) throw new MetadataDocumentError(`the host resolves to a non-public address (${refused.address})`);
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
      reject(error instanceof MetadataDocumentError ? error : new MetadataDocumentError(`the fetch failed: ${error.message}`));
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

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new MetadataDocumentError(message)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}
