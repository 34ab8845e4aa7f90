/**
 * What a request's target names, read the way each router reads it (decision 028). Node passes
 * `req.url` through as the client sent it. The protocol routes match that raw path exactly; Remix
 * builds its Request URL as `${origin}${req.url}` (WHATWG URL parsing: dot segments, `%2e`,
 * backslashes) and then matches `url.pathname` with @remix-run/router's `matchRoutes`
 * (percent-decoding each segment, case-insensitive, trailing slashes ignored). Anything that decides
 * per route (the rate limits) must use these functions, never the raw string.
 */
import { matchRoutes } from "@remix-run/router";

/** Methods the fetch API refuses to build a Request for (it throws), and that nothing here serves. */
const UNSERVED_METHODS = new Set(["CONNECT", "TRACE"]);

/**
 * The target in origin form (`/path?query`), or why the request cannot be served. RFC 9112 §3.2.2:
 * a server must accept the absolute form; its authority is ignored (PUBLIC_URL is authoritative).
 * The asterisk and authority forms, and anything else, are a 400.
 */
export function checkRequestTarget(method: string, target: string): { target: string } | { status: 400 | 405; message: string } {
  if (UNSERVED_METHODS.has(method)) return { status: 405, message: `The ${method} method is not served here.` };
  if (target.startsWith("/")) return { target };
  if (/^https?:\/\//i.test(target) && URL.canParse(target)) {
    const url = new URL(target);
    return { target: url.pathname + url.search };
  }
  return { status: 400, message: "The request target must be a path (origin form) or an absolute http URL." };
}

/** The path protocol routes match: the raw target up to `?`. */
export function protocolPathname(target: string): string {
  const query = target.indexOf("?");
  return query === -1 ? target : target.slice(0, query);
}

/**
 * The pathname Remix's router matches for an origin-form target: the Request URL's pathname,
 * less the `.data` suffix of a single-fetch data request (and `/_root.data` for the root), which
 * Remix serves from the route the rest of the path names.
 */
export function pagePathname(target: string): string {
  const pathname = new URL(`http://page.invalid${target}`).pathname;
  return pathname.endsWith(".data") ? pathname.replace(/\.data$/, "").replace(/^\/_root$/, "/") : pathname;
}

/** A route as @remix-run/router matches it: `path` relative to the root, as a route file declares it. */
export type PageRoute<Id extends string> = { id: Id; path: string };

/** The id of the route Remix's own matcher picks among `routes` for `pathname`, or null. */
export function matchPageRoute<Id extends string>(routes: readonly PageRoute<Id>[], pathname: string): Id | null {
  // The router matches a path it cannot percent-decode as it is (after printing a warning); a
  // static route path has no `%`, so such a path never matches one.
  if (pathname.includes("%") && !decodable(pathname)) return null;
  const matches = matchRoutes(routes as PageRoute<Id>[], pathname);
  return (matches?.at(-1)?.route.id as Id | undefined) ?? null;
}

function decodable(pathname: string): boolean {
  try {
    decodeURIComponent(pathname);
    return true;
  } catch {
    return false;
  }
}
