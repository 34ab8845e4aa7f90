/**
 * Per-address rate limits for the endpoints people and clients hit before they hold a token.
 * Token buckets in memory (one process serves the app). A refused request gets 429 with
 * Retry-After: never 400 or 401, which send OAuth clients into re-authorization loops.
 */
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

export class RateLimiter {
  private buckets = new Map<string, Bucket>();
  private lastSweep = 0;

  constructor(
    private readonly limits: Record<LimitName, Limit> = DEFAULT_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one token for `name` and `key`; returns 0 when allowed, else seconds to wait. */
  take(name: LimitName, key: string): number {
    const limit = this.limits[name];
    const now = this.now();
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

/** Which limit applies to a request, if any. */
export function limitFor(method: string, pathname: string): LimitName | null {
  if (method === "OPTIONS") return null;
  if (pathname === "/register") return "register";
  if (pathname === "/token") return "token";
  if (pathname === "/revoke") return "revoke";
  if (pathname === "/authorize") return "authorize";
  if (pathname === "/sign-in" && method === "POST") return "signIn";
  return null;
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
