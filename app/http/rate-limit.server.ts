/**
 * Per-address rate limits for the endpoints people and clients hit before they hold a token.
 * Token buckets: in memory when one process serves the app (SQLite), in the shared database when
 * several replicas do (PostgreSQL, docs/decisions/055), so a client cannot multiply its budget by
 * the number of replicas. A refused request gets 429 with Retry-After: never 400 or 401, which
 * send OAuth clients into re-authorization loops.
 */
import type { AppContext } from "~/context.server";
import { matchPageRoute, pagePathname, protocolPathname, type PageRoute } from "./request-target.server";

export type Limit = { /** bucket size */ burst: number; /** tokens added per minute */ perMinute: number };

export const DEFAULT_LIMITS = {
  // Many people behind one company address each register a client once: generous.
  register: { burst: 60, perMinute: 60 },
  token: { burst: 120, perMinute: 600 },
  revoke: { burst: 60, perMinute: 300 },
  authorize: { burst: 60, perMinute: 120 },
  signIn: { burst: 20, perMinute: 30 },
} satisfies Record<string, Limit>;

export type LimitName = keyof typeof DEFAULT_LIMITS;

type Bucket = { tokens: number; updatedAt: number };

/** Buckets kept in a database every replica shares: takes one token, answers as `take` does. */
export type SharedBuckets = (id: string, limit: Limit, now: number) => Promise<number>;

/**
 * The buckets every replica shares, on PostgreSQL; none on SQLite, whose one process keeps them in
 * memory (no database write per limited request).
 */
export function sharedBucketsOf(ctx: AppContext): SharedBuckets | undefined {
  if (ctx.store.dialect !== "postgres") return undefined;
  return (id, limit, now) => ctx.store.hot.takeRateLimitToken(ctx.db, id, limit.burst, limit.perMinute, now);
}

export class RateLimiter {
  private buckets = new Map<string, Bucket>();
  private lastSweep = 0;

  constructor(
    private readonly limits: Record<LimitName, Limit> = DEFAULT_LIMITS,
    private readonly now: () => number = Date.now,
    private readonly shared?: SharedBuckets,
  ) {}

  /**
   * Takes one token for `name` and `key`; 0 when allowed, else seconds to wait. In memory the
   * answer is immediate; shared buckets answer after one database statement.
   */
  take(name: LimitName, key: string): number | Promise<number> {
    const limit = this.limits[name];
    const now = this.now();
    if (this.shared) return this.shared(`${name}|${key}`, limit, now);
    this.sweep(now);
    const id = `${name}\0${key}`;
    const refillPerMs = limit.perMinute / 60_000;
    const bucket = this.buckets.get(id) ?? { tokens: limit.burst, updatedAt: now };
    bucket.tokens = Math.min(limit.burst, bucket.tokens + (now - bucket.updatedAt) * refillPerMs);
    bucket.updatedAt = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      this.buckets.set(id, bucket);
      return 0;
    }
    this.buckets.set(id, bucket);
    return Math.max(1, Math.ceil((1 - bucket.tokens) / refillPerMs / 1000));
  }

  /** Drops full buckets now and then so memory stays bounded by recent clients. */
  private sweep(now: number) {
    if (now - this.lastSweep < 60_000 && this.buckets.size < 100_000) return;
    this.lastSweep = now;
    for (const [id, bucket] of this.buckets) {
      const name = id.slice(0, id.indexOf("\0")) as LimitName;
      const limit = this.limits[name];
      if (bucket.tokens + (now - bucket.updatedAt) * (limit.perMinute / 60_000) >= limit.burst) this.buckets.delete(id);
    }
  }
}

/**
 * The bucket key for a client address: IPv4 as is, IPv6 by its /64 prefix (one subscriber usually
 * holds a whole /64, so per-address buckets would give one client 2^64 budgets).
 */
export function limitKey(address: string): string {
  if (!address.includes(":")) return address;
  const [head = "", tail = ""] = address.toLowerCase().split("::");
  const left = head ? head.split(":") : [];
  const right = address.includes("::") ? (tail ? tail.split(":") : []) : [];
  // An embedded IPv4 tail (::ffff:1.2.3.4) counts as two groups.
  const groups = [...left, ...Array(Math.max(0, 8 - left.length - right.length - (right.at(-1)?.includes(".") ? 1 : 0))).fill("0"), ...right];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "")).join(":")}::/64`;
}

/**
 * The limited endpoints, each as a route path the way a route file declares it. Protocol routes
 * match their raw path exactly; page routes (`authorize`, `sign-in`) are matched by Remix's own
 * matcher, so every spelling Remix routes to them (case, trailing slash, percent-encoding, dot
 * segments, `.data`) is found here too (decision 028). A spelling of a protocol path that only
 * Remix answers (a 404 page, say `/TOKEN`) shares its endpoint's bucket: harmless, and it keeps the
 * rule simple: whatever the router reads as `/token` is limited as `/token`.
 */
const LIMITED_ROUTES: PageRoute<LimitName>[] = [
  { id: "register", path: "register" },
  { id: "token", path: "token" },
  { id: "revoke", path: "revoke" },
  { id: "authorize", path: "authorize" },
  { id: "signIn", path: "sign-in" },
];
const PROTOCOL_LIMITS = new Map<string, LimitName>([
  ["/register", "register"],
  ["/token", "token"],
  ["/revoke", "revoke"],
]);
// Remix runs a route's action for these methods; GET and HEAD run the loader (the sign-in page).
const ACTION_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * Which limit applies to a request, if any, by the route that will answer it. `target` is the
 * request target in origin form (checkRequestTarget); `isProtocolPath` tells whether a protocol
 * route answers a raw path (those are served before Remix, so no page route can).
 */
export function limitFor(method: string, target: string, isProtocolPath: (pathname: string) => boolean = () => false): LimitName | null {
  if (method === "OPTIONS") return null;
  const raw = protocolPathname(target);
  const protocol = PROTOCOL_LIMITS.get(raw);
  if (protocol) return protocol;
  if (isProtocolPath(raw)) return null;
  const name = matchPageRoute(LIMITED_ROUTES, pagePathname(target));
  if (name === "signIn" && !ACTION_METHODS.has(method)) return null;
  return name;
}

export function rateLimitedResponse(retryAfterSeconds: number): Response {
  return new Response(
    JSON.stringify({ error: "rate_limited", error_description: "Too many requests. Try again later." }),
    {
      status: 429,
      headers: {
        "Content-Type": "application/json",
        "Retry-After": String(retryAfterSeconds),
        "Cache-Control": "no-store",
      },
    },
  );
}
