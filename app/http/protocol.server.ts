import type { IncomingMessage, ServerResponse } from "node:http";
import type { AppContext } from "~/context.server";
import { json } from "./headers.server";

export type RequestInfo = { clientAddress: string; requestId: string };

/** A protocol endpoint: plain fetch-style handler served before (and without) the Remix pipeline. */
export type ProtocolHandler = (request: Request, ctx: AppContext, info: RequestInfo) => Response | Promise<Response>;

type Route = { pattern: RegExp; handler: ProtocolHandler };

const routes: Route[] = [];

/** Registers a protocol route. Patterns match the whole pathname. */
export function protocolRoute(pattern: RegExp, handler: ProtocolHandler): void {
  routes.push({ pattern, handler });
}

export function matchProtocolRoute(pathname: string): ProtocolHandler | null {
  for (const route of routes) if (route.pattern.test(pathname)) return route.handler;
  return null;
}

/**
 * A hot protocol endpoint served on Node's own request and response objects: no fetch Request or
 * Response is built (that conversion costs more CPU than a whole bare Node answer). `match` is the
 * pattern's match. A route registered this way should also be registered with protocolRoute (the
 * fetch-style handler is what in-process callers use); the Node server tries node routes first.
 * A handler that returns `false` (synchronously, before writing anything) passes the request on to
 * the fetch-style route: the fast path can cover only the common case.
 */
export type NodeProtocolHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  ctx: AppContext,
  info: RequestInfo,
  match: RegExpExecArray,
) => false | void | Promise<void>;

const nodeRoutes: { pattern: RegExp; handler: NodeProtocolHandler }[] = [];

export function nodeProtocolRoute(pattern: RegExp, handler: NodeProtocolHandler): void {
  nodeRoutes.push({ pattern, handler });
}

export function matchNodeRoute(pathname: string): { handler: NodeProtocolHandler; match: RegExpExecArray } | null {
  for (const route of nodeRoutes) {
    const match = route.pattern.exec(pathname);
    if (match) return { handler: route.handler, match };
  }
  return null;
}

/** Every registered protocol route's pattern (the generative battery derives its paths from them). */
export function protocolRoutePatterns(): RegExp[] {
  return routes.map((route) => route.pattern);
}

/** The prefixes the Node server hands to the protocol router instead of Remix. */
export function isProtocolPath(pathname: string): boolean {
  return matchProtocolRoute(pathname) !== null;
}

// /healthz and /readyz: app/http/health.server.ts.

// Toolgate is not an OpenID provider. A 404 here makes clients fall back to RFC 8414 metadata.
protocolRoute(/^\/\.well-known\/openid-configuration$/, () =>
  json({ error: "not_found", error_description: "This server is not an OpenID Connect provider" }, { status: 404 }),
);
