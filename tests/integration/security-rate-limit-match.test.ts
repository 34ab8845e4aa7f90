/**
 * The limiter's route matching agrees with Remix's (decision 028): for any request target, the limit
 * `limitFor` picks for a page is the one of the route Remix's own matcher finds in the built app's
 * route tree (build/index.js, so `npm run build` first) for the URL Remix builds from that target.
 * Property-based (fast-check) over targets assembled from the pieces that spellings are made of.
 */
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { matchRoutes, type AgnosticRouteObject } from "@remix-run/router";
import fc from "fast-check";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { limitFor, type LimitName } from "~/http/rate-limit.server";
import { isProtocolPath } from "~/http/routes.server";
import { checkRequestTarget, pagePathname } from "~/http/request-target.server";

type BuiltRoute = { id: string; path?: string; index?: boolean; caseSensitive?: boolean; parentId?: string };
let tree: AgnosticRouteObject[] = [];

function children(routes: BuiltRoute[], parentId: string | undefined): AgnosticRouteObject[] {
  return routes
    .filter((r) => r.parentId === parentId)
    .map((r) => (r.index ? { id: r.id, index: true, path: r.path } : { id: r.id, path: r.path, caseSensitive: r.caseSensitive, children: children(routes, r.id) }));
}

beforeAll(async () => {
  const file = path.resolve(import.meta.dirname, "../../build/index.js");
  if (!fs.existsSync(file)) throw new Error("run `npm run build` first");
  const build = (await import(pathToFileURL(file).href)) as { routes: Record<string, BuiltRoute> };
  tree = await children(Object.values(build.routes), undefined);
});

const PAGE_LIMITS: Record<string, LimitName> = { "routes/authorize": "authorize", "routes/sign-in": "signIn" };

/** The limit of the page route Remix would run for `target`, by Remix's matcher over the real tree. */
function remixLimit(target: string): LimitName | null {
  // The router warns on the console about a path it cannot decode (and then matches it as is).
  const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
  const leaf = matchRoutes(tree, pagePathname(target))?.at(-1)?.route.id;
  warn.mockRestore();
  return leaf && Object.hasOwn(PAGE_LIMITS, leaf) ? PAGE_LIMITS[leaf]! : null;
}

const piece = fc.constantFrom(
  "/", "//", "\\", ".", "..", "/.", "/..", "%2e", "%2E", "%2f", "%2F", "%5c", ";", ";x", "?", "?a=1", "#", "#x", "%",
  "authorize", "AUTHORIZE", "Authorize", "authoriz%65", "%61uthorize", "%41UTHORIZE", "sign-in", "SIGN-IN", "sign%2din", "sign%2Din", "s%69gn-in",
  "complete", "servers", "x", ".data", "_root", "%00", "%20", " ", "token", "register", "mcp", "%E2%80%AE",
);
const target = fc.array(piece, { minLength: 1, maxLength: 7 }).map((parts) => `/${parts.join("")}`);

describe("the limiter matches pages as Remix does (decision 028)", () => {
  it("any target: a page limit is exactly the limit of the route Remix would run", async () => {
    fc.assert(
      fc.property(target, (raw) => {
        const checked = checkRequestTarget("POST", raw);
        if (!("target" in checked)) return true;
        const t = checked.target;
        const pathname = t.split("?")[0]!;
        const ours = limitFor("POST", t, isProtocolPath);
        if (isProtocolPath(pathname)) return true; // answered before Remix; covered below
        const theirs = remixLimit(t);
        if (theirs !== null) expect(ours, t).toBe(theirs);
        // Anything else we limit is a spelling of a protocol endpoint that Remix answers with a 404.
        else if (ours !== null) expect(["register", "token", "revoke"], t).toContain(ours);
        return true;
      }),
      { numRuns: 3000 },
    );
  });

  it("the known spellings", async () => {
    for (const t of ["/AUTHORIZE", "/authorize/", "/authoriz%65", "/./authorize", "/%2e/authorize", "/x/../authorize", "/authorize/.", "/Authorize//?a", "/authorize#x", "/authorize\\"]) {
      expect(remixLimit(t), t).toBe("authorize");
      expect(limitFor("GET", t, isProtocolPath), t).toBe("authorize");
    }
    for (const t of ["/SIGN-IN", "/sign-in/", "/sign%2Din", "/sign-in.data"]) {
      expect(limitFor("POST", t, isProtocolPath), t).toBe("signIn");
      expect(limitFor("GET", t, isProtocolPath), t).toBeNull();
    }
    // Remix runs no route for these; neither does the limiter (the answer is a 404 page).
    for (const t of ["//authorize", "/authorize;x", "/authorize%2F", "/%2Fauthorize"]) {
      expect(remixLimit(t), t).toBeNull();
      expect(limitFor("GET", t, isProtocolPath), t).toBeNull();
    }
    expect(limitFor("POST", "/mcp/abc", isProtocolPath)).toBeNull();
    expect(limitFor("POST", "/token", isProtocolPath)).toBe("token");
    expect(limitFor("POST", "/TOKEN", isProtocolPath)).toBe("token");
  });
});
