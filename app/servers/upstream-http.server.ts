/**
 * The HTTP client of tool calls (docs/decisions/046-tool-call-fast-path.md): node:http/https with
 * one keep-alive pool per upstream origin (bounded sockets per pool, bounded number of pools), a
 * short-lived DNS cache so a call does not wait for a lookup, one timer for the whole exchange
 * (connect, headers and body) and a streamed size cap. Redirects are never followed: node:http
 * does not follow them, and a 3xx is reported like any other non-2xx answer.
 */
import dns from "node:dns";
import http from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import type { RestTarget } from "./rest-request.server";

/** Sockets per upstream origin; requests beyond it wait for a free socket (still under the timeout). */
export const MAX_SOCKETS_PER_ORIGIN = 64;
/**
 * Idle sockets kept per origin: as many as may be open, so a burst's sockets are all reused by the
 * next one instead of closed and connected again (each reconnect costs a TCP handshake and two
 * file-descriptor operations on a call's path). Idle ones still close after IDLE_SOCKET_MS.
 */
const MAX_FREE_SOCKETS = MAX_SOCKETS_PER_ORIGIN;
/**
 * An idle pooled socket is closed after this long: below Node's default server keep-alive timeout
 * (5 s) and every common proxy's, so a pooled socket is not picked just as the upstream closes it.
 */
const IDLE_SOCKET_MS = 4_000;
const MAX_POOLS = 256;
/** How long a DNS answer is reused. Short, so a moved upstream is followed within seconds. */
export const DNS_TTL_MS = 10_000;
const MAX_DNS_ENTRIES = 1000;

type DnsEntry = { at: number; addresses: dns.LookupAddress[] };
const dnsCache = new Map<string, DnsEntry>();

/** dns.lookup with answers kept DNS_TTL_MS; failures are not cached. */
export const cachedLookup: LookupFunction = (hostname, options, callback) => {
  const family = typeof options.family === "number" ? options.family : 0;
  const key = `${family}\u0000${hostname}`;
  const hit = dnsCache.get(key);
  const answer = (addresses: dns.LookupAddress[]) => {
    if (options.all) (callback as (e: null, a: dns.LookupAddress[]) => void)(null, addresses);
    else callback(null, addresses[0]!.address, addresses[0]!.family);
  };
  if (hit && performance.now() - hit.at < DNS_TTL_MS) return answer(hit.addresses);
  dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error || addresses.length === 0) return callback(error ?? Object.assign(new Error(`No address for ${hostname}`), { code: "ENOTFOUND" }), "", 0);
    if (!hit && dnsCache.size >= MAX_DNS_ENTRIES) dnsCache.delete(dnsCache.keys().next().value!);
    dnsCache.set(key, { at: performance.now(), addresses });
    answer(addresses);
  });
};

const pools = new Map<string, http.Agent>();

/** The keep-alive pool of one origin, created on first use; the least recently created goes first. */
export function agentFor(target: Pick<RestTarget, "origin" | "protocol">): http.Agent {
  let agent = pools.get(target.origin);
  if (agent) return agent;
  const options = {
    keepAlive: true,
    maxSockets: MAX_SOCKETS_PER_ORIGIN,
    maxFreeSockets: MAX_FREE_SOCKETS,
    timeout: IDLE_SOCKET_MS,
    scheduling: "lifo" as const,
    lookup: cachedLookup,
  };
  agent = target.protocol === "https:" ? new https.Agent(options) : new http.Agent(options);
  if (pools.size >= MAX_POOLS) {
    const [oldOrigin, old] = pools.entries().next().value!;
    pools.delete(oldOrigin);
    // Closes its idle sockets only; requests in flight on it finish.
    for (const sockets of Object.values(old.freeSockets)) for (const s of sockets ?? []) s.destroy();
  }
  pools.set(target.origin, agent);
  return agent;
}

/** Closes every pooled connection (shutdown, tests). */
export function closeUpstreamPools(): void {
  for (const agent of pools.values()) agent.destroy();
  pools.clear();
  dnsCache.clear();
}

export type UpstreamOutcome =
  | { kind: "response"; status: number; statusText: string; contentType: string; text: string }
  | { kind: "too_large"; status: number }
  | { kind: "timeout" }
  | { kind: "cancelled" }
  | { kind: "unreachable"; code: string | undefined }
  | { kind: "read_failed"; status: number };

/** Sends one request and reads its answer within `timeoutMs` and `maxBytes`; never throws. */
export function sendUpstream(
  target: RestTarget,
  method: string,
  headers: Record<string, string>,
  options: { timeoutMs: number; maxBytes: number; signal?: AbortSignal },
): Promise<UpstreamOutcome> {
  return new Promise((resolve) => {
    if (options.signal?.aborted) return resolve({ kind: "cancelled" });
    let settled = false;
    let status = 0;
    // One timer for the whole exchange: connecting, the headers and the body.
    const timer = setTimeout(() => stop({ kind: "timeout" }), options.timeoutMs);
    const finish = (outcome: UpstreamOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onCancel);
      resolve(outcome);
    };
    const stop = (outcome: UpstreamOutcome) => {
      finish(outcome);
      req.destroy();
    };
    const onCancel = () => stop({ kind: "cancelled" });

    if (target.body !== null) headers["Content-Length"] = String(Buffer.byteLength(target.body));
    const module = target.protocol === "https:" ? https : http;
    const req = module.request(
      {
        agent: agentFor(target),
        hostname: target.hostname,
        port: target.port,
        // Sent exactly as built: its arguments are already escaped, nothing is re-encoded.
        path: target.path,
        method,
        headers,
      },
      (res) => {
        status = res.statusCode ?? 0;
        const declared = Number(res.headers["content-length"]);
        if (Number.isFinite(declared) && declared > options.maxBytes) return stop({ kind: "too_large", status });
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.byteLength;
          if (size > options.maxBytes) return stop({ kind: "too_large", status });
          chunks.push(chunk);
        });
        res.on("end", () =>
          finish({
            kind: "response",
            status,
            statusText: res.statusMessage ?? "",
            contentType: String(res.headers["content-type"] ?? ""),
            text: chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8"),
          }),
        );
        res.on("aborted", () => finish({ kind: "read_failed", status }));
        res.on("error", () => finish({ kind: "read_failed", status }));
      },
    );
    options.signal?.addEventListener("abort", onCancel, { once: true });
    req.on("error", (error: NodeJS.ErrnoException) => {
      if (status) finish({ kind: "read_failed", status });
      else finish({ kind: "unreachable", code: error.code });
    });
    req.end(target.body ?? undefined);
  });
}
