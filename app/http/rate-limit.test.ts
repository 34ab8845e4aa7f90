import { describe, expect, it } from "vitest";
import { limitFor, limitKey, RateLimiter } from "./rate-limit.server";

describe("RateLimiter", () => {
  it("allows a burst, then answers with the seconds until the next token", () => {
    let now = 0;
    const limiter = new RateLimiter(
      { register: { burst: 3, perMinute: 6 }, token: { burst: 1, perMinute: 1 }, revoke: { burst: 1, perMinute: 1 }, authorize: { burst: 1, perMinute: 1 }, signIn: { burst: 1, perMinute: 1 } },
      () => now,
    );
    expect([1, 2, 3].map(() => limiter.take("register", "198.51.100.1"))).toEqual([0, 0, 0]);
    expect(limiter.take("register", "198.51.100.1")).toBe(10);
    // Another address has its own bucket.
    expect(limiter.take("register", "198.51.100.2")).toBe(0);
    now += 10_000;
    expect(limiter.take("register", "198.51.100.1")).toBe(0);
    expect(limiter.take("register", "198.51.100.1")).toBe(10);
  });

  it("keeps limits separate per endpoint", () => {
    const limiter = new RateLimiter(undefined, () => 0);
    for (let i = 0; i < 60; i++) expect(limiter.take("register", "a")).toBe(0);
    expect(limiter.take("register", "a")).toBeGreaterThan(0);
    expect(limiter.take("token", "a")).toBe(0);
  });

  it("maps requests to limits", () => {
    expect(limitFor("POST", "/token")).toBe("token");
    expect(limitFor("OPTIONS", "/token")).toBeNull();
    expect(limitFor("GET", "/sign-in")).toBeNull();
    expect(limitFor("POST", "/sign-in")).toBe("signIn");
    expect(limitFor("GET", "/authorize")).toBe("authorize");
    expect(limitFor("POST", "/mcp/abc")).toBeNull();
  });

  it("keys IPv4 by address and IPv6 by /64", () => {
    expect(limitKey("198.51.100.7")).toBe("198.51.100.7");
    expect(limitKey("2001:db8:1:2::1")).toBe("2001:db8:1:2::/64");
    expect(limitKey("2001:db8:1:2:aaaa:bbbb:cccc:dddd")).toBe("2001:db8:1:2::/64");
    expect(limitKey("2001:0db8:0001:0002:0:0:0:9")).toBe("2001:db8:1:2::/64");
    expect(limitKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(limitKey("::1")).toBe("0:0:0:0::/64");
    expect(limitKey("2001:db8:1:3::1")).not.toBe(limitKey("2001:db8:1:2::1"));
  });
});
