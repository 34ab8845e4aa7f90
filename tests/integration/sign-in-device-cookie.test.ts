/**
 * No cheap lockout (decision 030): device cookies per OWASP "Slow down online guessing attacks with
 * device cookies". Over real HTTP with real cookie jars: the app's own server and its built Remix
 * pages (build/index.js, so `npm run build` first) on a test context whose clock the test moves, with
 * the rate limits on and client addresses taken from X-Forwarded-For (a trusted loopback proxy).
 */
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { ServerBuild } from "@remix-run/node";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { deviceCookieName } from "~/auth/device-cookie.server";
import { THROTTLE } from "~/auth/throttle.server";
import { createUser } from "~/auth/users.server";
import { startHttpServer, type RunningServer } from "~/http/server.server";
import { createTestContext, type TestContext } from "../helpers/context";

const PASSWORD = "correct horse battery staple";
const OWNER = "owner@example.test";
const MEMBER = "member@example.test";

let build: ServerBuild;
let ctx: TestContext;
let server: RunningServer;

beforeAll(async () => {
  const file = path.resolve(import.meta.dirname, "../../build/index.js");
  if (!fs.existsSync(file)) throw new Error("run `npm run build` first");
  build = (await import(pathToFileURL(file).href)) as ServerBuild;
});

beforeEach(async () => {
  ctx = createTestContext({ TOOLGATE_RATE_LIMIT: "on", TOOLGATE_TRUSTED_PROXIES: "loopback" });
  await createUser(ctx, { email: OWNER, password: PASSWORD, role: "owner" });
  await createUser(ctx, { email: MEMBER, password: PASSWORD });
  server = await startHttpServer({ ctx, build, port: 0, host: "127.0.0.1" });
});
afterEach(async () => {
  await server.close(100);
  ctx.cleanup();
});

/** A browser: its own cookie jar, coming from one client address. */
class Browser {
  readonly jar = new Map<string, string>();
  constructor(public address: string) {}

  private cookieHeader() {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join("; ");
  }

  async request(method: string, target: string, body?: URLSearchParams) {
    const res = await fetch(server.url + target, {
      method,
      redirect: "manual",
      body,
      headers: {
        "X-Forwarded-For": this.address,
        Origin: "http://localhost:3000",
        ...(this.jar.size ? { Cookie: this.cookieHeader() } : {}),
        ...(body ? { "Content-Type": "application/x-www-form-urlencoded" } : {}),
      },
    });
    for (const set of res.headers.getSetCookie()) {
      const [pair] = set.split(";");
      const eq = pair!.indexOf("=");
      this.jar.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
    return { status: res.status, text: await res.text(), location: res.headers.get("location") };
  }

  /** Signs in through the form; the status of the form post (302 signed in, 401 wrong, 429 throttled). */
  async signIn(email: string, password: string) {
    const page = await this.request("GET", "/sign-in");
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)?.[1] ?? "";
    const res = await this.request("POST", "/sign-in", new URLSearchParams({ csrf, returnTo: "/connections", email, password }));
    return res.status;
  }

  async signedIn(): Promise<boolean> {
    return (await this.request("GET", "/connections")).status === 200;
  }

  signOut() {
    // The session cookie goes; the device cookie stays, as it does when a session ends.
    for (const name of [...this.jar.keys()]) if (name !== deviceCookieName(ctx)) this.jar.delete(name);
  }

  get device() {
    return this.jar.get(deviceCookieName(ctx));
  }
}

/** Strangers from `addresses` each try `perAddress` wrong passwords for `email`. */
async function guess(email: string, addresses: number, perAddress: number) {
  const statuses: number[] = [];
  for (let a = 0; a < addresses; a++) {
    const attacker = new Browser(`203.0.113.${a + 1}`);
    for (let i = 0; i < perAddress; i++) statuses.push(await attacker.signIn(email, `wrong guess ${a}-${i}`));
  }
  return statuses;
}

describe("device cookies (decision 030)", () => {
  it("strangers failing from many addresses lock the account for untrusted browsers, not for the owner's", async () => {
    const owner = new Browser("198.51.100.10");
    expect(await owner.signIn(OWNER, PASSWORD)).toBe(302);
    expect(owner.device).toMatch(/^v1\./);
    owner.signOut();
    expect(await owner.signedIn()).toBe(false);

    const statuses = await guess(OWNER, 5, 4);
    expect(statuses.filter((s) => s === 401).length).toBe(THROTTLE.account.free);
    expect(statuses.slice(THROTTLE.account.free)).toEqual(Array(20 - THROTTLE.account.free).fill(429));

    // The right password from a browser that never signed in is throttled like a guess…
    expect(await new Browser("198.51.100.11").signIn(OWNER, PASSWORD)).toBe(429);
    // …and from the owner's browser it signs in at once, again and again.
    for (let i = 0; i < 3; i++) {
      expect(await owner.signIn(OWNER, PASSWORD)).toBe(302);
      expect(await owner.signedIn()).toBe(true);
      owner.signOut();
    }
    // The owner's success did not reset the account's lockout for everyone else.
    expect(await new Browser("203.0.113.99").signIn(OWNER, "another guess")).toBe(429);
  });

  it("the untrusted lockout still doubles with each failure past the free attempts", async () => {
    await guess(OWNER, 1, THROTTLE.account.free);
    const stranger = new Browser("203.0.113.50");
    const waits: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await stranger.request("GET", "/sign-in");
      const csrf = /name="csrf" value="([^"]+)"/.exec(res.text)![1]!;
      const blocked = await fetch(server.url + "/sign-in", {
        method: "POST",
        redirect: "manual",
        headers: { "X-Forwarded-For": stranger.address, Origin: "http://localhost:3000", "Content-Type": "application/x-www-form-urlencoded", Cookie: [...stranger.jar].map(([k, v]) => `${k}=${v}`).join("; ") },
        body: new URLSearchParams({ csrf, email: OWNER, password: "guess" }),
      });
      expect(blocked.status).toBe(429);
      const wait = Number(blocked.headers.get("retry-after"));
      waits.push(wait);
      ctx.advance(wait * 1000);
      expect(await stranger.signIn(OWNER, `guess ${i}`), `after ${waits}`).toBe(401);
    }
    expect(waits).toEqual([1, 2, 4, 8]);
  });

  it("a device cookie of another account, a forged one or a tampered one does not help", async () => {
    const member = new Browser("198.51.100.20");
    expect(await member.signIn(MEMBER, PASSWORD)).toBe(302);
    const owner = new Browser("198.51.100.21");
    expect(await owner.signIn(OWNER, PASSWORD)).toBe(302);
    const ownerDevice = owner.device!;
    await guess(OWNER, 3, 3);

    const [, ownerId, nonce, sig] = ownerDevice.split(".");
    const memberId = member.device!.split(".")[1]!;
    const forged = [
      member.device!, // the member's own, valid cookie: for another account
      `v1.${ownerId}.${nonce}.${"A".repeat(43)}`, // a bad signature
      `v1.${ownerId}.AAAAAAAAAAAAAAAAAAAAAAAA.${sig}`, // another nonce under the owner's signature
      `v1.${memberId}.${nonce}.${sig}`, // the owner's signature moved to another account
      `v2.${ownerId}.${nonce}.${sig}`,
      "",
      "junk",
    ];
    for (const value of forged) {
      const thief = new Browser("203.0.113.77");
      thief.jar.set(deviceCookieName(ctx), value);
      expect(await thief.signIn(OWNER, PASSWORD), value).toBe(429);
    }
    // The real one, from anywhere, still works: it is the owner's browser.
    const elsewhere = new Browser("192.0.2.200");
    elsewhere.jar.set(deviceCookieName(ctx), ownerDevice);
    expect(await elsewhere.signIn(OWNER, PASSWORD)).toBe(302);
  });

  it("a device cookie that sees too many failures is locked out and then counts as untrusted", async () => {
    const owner = new Browser("198.51.100.30");
    expect(await owner.signIn(OWNER, PASSWORD)).toBe(302);
    const laptop = new Browser("198.51.100.31");
    expect(await laptop.signIn(OWNER, PASSWORD)).toBe(302);
    // A thief with the phone's cookie guesses: the device's own free attempts, none of the account's.
    const thief = new Browser("203.0.113.66");
    thief.jar.set(deviceCookieName(ctx), owner.device!);
    for (let i = 0; i < THROTTLE.device.free; i++) expect(await thief.signIn(OWNER, `guess ${i}`)).toBe(401);
    // The device is now locked: its attempts are untrusted and spend the account's attempts.
    for (let i = 0; i < THROTTLE.account.free; i++) expect(await thief.signIn(OWNER, `more ${i}`)).toBe(401);
    expect(await thief.signIn(OWNER, PASSWORD)).toBe(429);
    // The stolen cookie no longer helps its owner either; the laptop's does.
    owner.signOut();
    expect(await owner.signIn(OWNER, PASSWORD)).toBe(429);
    laptop.signOut();
    expect(await laptop.signIn(OWNER, PASSWORD)).toBe(302);
  });

  it("the browser that set the workspace up is trusted for the owner's account", async () => {
    await server.close(100);
    ctx.cleanup();
    ctx = createTestContext({ TOOLGATE_RATE_LIMIT: "on", TOOLGATE_TRUSTED_PROXIES: "loopback" });
    server = await startHttpServer({ ctx, build, port: 0, host: "127.0.0.1" });
    const first = new Browser("198.51.100.50");
    const page = await first.request("GET", "/setup");
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)![1]!;
    const setUp = await first.request("POST", "/setup", new URLSearchParams({ csrf, email: OWNER, name: "Owner", password: PASSWORD, confirm: PASSWORD }));
    expect(setUp.status).toBe(302);
    expect(first.device).toMatch(/^v1\./);
    first.signOut();
    await guess(OWNER, 3, 3);
    expect(await new Browser("198.51.100.51").signIn(OWNER, PASSWORD)).toBe(429);
    expect(await first.signIn(OWNER, PASSWORD)).toBe(302);
  });

  it("behind one address (a NAT) with a guesser, the owner's browser still signs in", async () => {
    const nat = "198.51.100.40";
    const owner = new Browser(nat);
    expect(await owner.signIn(OWNER, PASSWORD)).toBe(302);
    owner.signOut();
    // The guesser tries many accounts from the shared address until the address itself is blocked.
    const attacker = new Browser(nat);
    for (let i = 0; i < THROTTLE.address.free; i++) {
      ctx.advance(2_000); // slow enough for the per-address request limit
      expect(await attacker.signIn(`someone-${i}@example.test`, "guess")).toBe(401);
    }
    expect(await attacker.signIn(MEMBER, PASSWORD)).toBe(429);
    expect(await new Browser(nat).signIn(OWNER, PASSWORD)).toBe(429);
    expect(await owner.signIn(OWNER, PASSWORD)).toBe(302);
  });
});
