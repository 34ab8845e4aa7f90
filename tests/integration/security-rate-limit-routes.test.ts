/**
 * Every limit applies to the route that answers (decision 028), over real HTTP against the built app
 * (`toolgate serve`). Requests go out on raw sockets with the target exactly as written, since fetch
 * would normalise it first. For each limited endpoint the bucket of one client address is emptied with
 * the canonical spelling, then every other spelling of the path must be refused with 429 too, or
 * not reach the endpoint at all (404); no spelling may be answered by the endpoint itself.
 * A second pass empties the bucket with one spelling only and then finds the canonical path limited.
 * The equivalence of the limiter's matcher with Remix's own route tree is a property test in
 * security-rate-limit-match.test.ts.
 */
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_LIMITS, type LimitName } from "~/http/rate-limit.server";
import { startApp, type AppUnderTest } from "../e2e/fixtures";

let app: AppUnderTest & { stop(): Promise<void> };
let port = 0;
let addressCounter = 0;

beforeAll(async () => {
  app = await startApp({ TOOLGATE_RATE_LIMIT: "on", TOOLGATE_TRUSTED_PROXIES: "loopback" });
  port = Number(new URL(app.url).port);
}, 60_000);
afterAll(async () => {
  await app?.stop();
});

/** A fresh client address (a bucket of its own), passed through the trusted loopback proxy. */
function freshAddress(): string {
  addressCounter++;
  return `198.51.${Math.floor(addressCounter / 250)}.${(addressCounter % 250) + 1}`;
}

type Raw = { status: number; body: string };

/** One request on its own connection, with the request target byte for byte as given. */
function raw(method: string, target: string, address: string, body = "", contentType = "application/x-www-form-urlencoded"): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => {
      const headers = [
        `${method} ${target} HTTP/1.1`,
        `Host: localhost:${port}`,
        "Connection: close",
        `X-Forwarded-For: ${address}`,
        `Origin: ${app.url}`,
      ];
      if (body) headers.push(`Content-Type: ${contentType}`, `Content-Length: ${Buffer.byteLength(body)}`);
      socket.write(`${headers.join("\r\n")}\r\n\r\n${body}`);
    });
    let data = "";
    socket.setEncoding("latin1");
    socket.on("data", (d: string) => (data += d));
    socket.on("error", reject);
    socket.on("close", () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0);
      resolve({ status, body: data.slice(data.indexOf("\r\n\r\n") + 4) });
    });
  });
}

/** Spellings of `path` (a single-segment path such as /authorize), each with a query kept as given. */
function spellings(path: string): string[] {
  const name = path.slice(1);
  const out = new Set<string>([
    path.toUpperCase(),
    `/${name[0]!.toUpperCase()}${name.slice(1)}`,
    `/${[...name].map((c, i) => (i % 2 ? c.toUpperCase() : c)).join("")}`,
    `${path}/`,
    `${path}//`,
    `${path.toUpperCase()}/`,
    `/.${path}`,
    `/./.${path}`,
    `/x/..${path}`,
    `/%2e${path}`,
    `/%2E%2E${path}`,
    `/x/%2e%2e${path}`,
    `${path}/.`,
    `${path}/./`,
    `${path}\\`,
    `${path}%2F`,
    `${path}%2f`,
    `/%2F${name}`,
    `/${path}`,
    `//${name}/`,
    `${path};x=1`,
    `${path};`,
    `${path}#frag`,
    `${path}?`,
    `${path}?a=1&a=2`,
    `${path}.data`,
    `${path}?_data=routes/${name}`,
    `http://localhost:${port}${path}`,
    `http://evil.example${path}`,
    `HTTP://LOCALHOST${path}/`,
  ]);
  // Each letter percent-encoded on its own, in lower- and upper-case hex, and the whole name.
  for (let i = 0; i < name.length; i++) {
    const hex = name.charCodeAt(i).toString(16);
    out.add(`/${name.slice(0, i)}%${hex}${name.slice(i + 1)}`);
    out.add(`/${name.slice(0, i)}%${hex.toUpperCase()}${name.slice(i + 1).toUpperCase()}`);
  }
  out.add(`/${[...name].map((c) => `%${c.charCodeAt(0).toString(16)}`).join("")}`);
  out.delete(path);
  return [...out];
}

type Endpoint = {
  limit: LimitName;
  method: string;
  path: string;
  body?: string;
  contentType?: string;
  query?: string;
  /** Whether an answer came from the endpoint itself (not a 404 page, a 415 or another route). */
  reached: (res: Raw) => boolean;
};

const oauthError = (code: string) => (res: Raw) => res.body.includes(`"error":"${code}"`);
const consentPage = (res: Raw) => res.body.includes("<title>Authorize Application</title>");
// The sign-in action redirects (to setup here: the instance has no account) or shows the form again.
const signInAction = (res: Raw) => res.status === 302 || res.body.includes('name="password"');

const ENDPOINTS: Endpoint[] = [
  { limit: "register", method: "POST", path: "/register", body: "{}", contentType: "application/json", reached: oauthError("invalid_redirect_uri") },
  { limit: "token", method: "POST", path: "/token", body: "grant_type=authorization_code&client_id=nope&code=x&code_verifier=y", reached: oauthError("invalid_client") },
  { limit: "revoke", method: "POST", path: "/revoke", body: "token=x&client_id=nope", reached: oauthError("invalid_client") },
  { limit: "authorize", method: "GET", path: "/authorize", query: "client_id=x", reached: consentPage },
  { limit: "authorize", method: "POST", path: "/authorize", body: "request=x&intent=approve", reached: consentPage },
  { limit: "signIn", method: "POST", path: "/sign-in", body: "email=a%40example.test&password=b", reached: signInAction },
  { limit: "signIn", method: "PUT", path: "/sign-in", body: "email=a%40example.test&password=b", reached: signInAction },
  { limit: "signIn", method: "DELETE", path: "/sign-in", body: "email=a%40example.test&password=b", reached: signInAction },
];

function withQuery(target: string, query: string | undefined): string {
  if (!query) return target;
  const hash = target.indexOf("#");
  const [head, fragment] = hash === -1 ? [target, ""] : [target.slice(0, hash), target.slice(hash)];
  return `${head}${head.includes("?") ? "&" : "?"}${query}${fragment}`;
}

/** Sends the canonical request until it is refused; fails if no 429 comes within twice the burst. */
async function exhaust(e: Endpoint, address: string, target = e.path): Promise<Raw[]> {
  const statuses: Raw[] = [];
  for (let i = 0; i < DEFAULT_LIMITS[e.limit].burst * 2; i++) {
    const res = await raw(e.method, withQuery(target, e.query), address, e.body, e.contentType);
    statuses.push(res);
    if (res.status === 429) return statuses;
  }
  throw new Error(`${e.method} ${target}: no 429 after ${statuses.length} requests (${[...new Set(statuses.map((r) => r.status))].join(", ")})`);
}

describe("rate limits follow the route match (decision 028)", () => {
  for (const e of ENDPOINTS) {
    it(`${e.method} ${e.path}: every spelling is limited with it or reaches nothing`, async () => {
      const address = freshAddress();
      const first = await exhaust(e, address);
      // The endpoint itself answered the burst.
      expect(first.slice(0, -1).every((r) => e.reached(r))).toBe(true);
      expect(first.length).toBeGreaterThanOrEqual(DEFAULT_LIMITS[e.limit].burst);
      const leaks: string[] = [];
      for (const target of spellings(e.path)) {
        // The bucket refills while the loop runs (/token by 10 a second), so each try first
        // empties it again with the canonical spelling and sends the spelling right after: a
        // limited spelling gets a 429 within three tries, one that is not would answer all three.
        const answers: Raw[] = [];
        for (let i = 0; i < 3; i++) {
          await exhaust(e, address);
          const res = await raw(e.method, withQuery(target, e.query), address, e.body, e.contentType);
          answers.push(res);
          if (res.status === 429) break;
        }
        const statuses = answers.map((a) => a.status);
        expect(statuses.every((s) => s > 0 && s < 500), `${target}: ${statuses}`).toBe(true);
        if (answers.some((a) => a.status !== 429 && e.reached(a)) && !statuses.includes(429)) leaks.push(`${target} → ${statuses.join(",")}`);
      }
      expect(leaks).toEqual([]);
    });
  }

  it("a spelling the router reads as the endpoint spends the endpoint's own bucket", async () => {
    const cases: [Endpoint, string][] = [
      [ENDPOINTS[3]!, "/AUTHORIZE/"],
      [ENDPOINTS[3]!, "/authoriz%65"],
      [ENDPOINTS[3]!, "/./authorize"],
      [ENDPOINTS[5]!, "/SIGN-IN"],
      [ENDPOINTS[5]!, "/sign%2Din/"],
    ];
    for (const [e, spelling] of cases) {
      const address = freshAddress();
      const answers = await exhaust(e, address, spelling);
      // The spelling reached the page route until it was limited.
      expect(answers.slice(0, -1).every((r) => e.reached(r)), spelling).toBe(true);
      const canonical = await raw(e.method, withQuery(e.path, e.query), address, e.body, e.contentType);
      const again = canonical.status === 429 ? canonical : await raw(e.method, withQuery(e.path, e.query), address, e.body, e.contentType);
      expect(again.status, spelling).toBe(429);
    }
  });

  it("a request target that is neither a path nor an absolute URL is a 400, and TRACE a 405, never a crash", async () => {
    const address = freshAddress();
    for (const target of ["authorize", "\\authorize", "*", "localhost:1234", "http://", "http://[::1", "https:/x"]) {
      expect((await raw("GET", target, address)).status, target).toBe(400);
    }
    expect((await raw("TRACE", "/sign-in", address)).status).toBe(405);
    expect((await raw("GET", "/healthz", address)).status).toBe(200);
    expect(app.output()).not.toMatch(/"level":"error"/);
  });
});
