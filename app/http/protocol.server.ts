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

/** The prefixes the Node server hands to the protocol router instead of Remix. */
export function isProtocolPath(pathname: string): boolean {
  return matchProtocolRoute(pathname) !== null;
}

// /healthz and /readyz: app/http/health.server.ts.

// Toolgate is not an OpenID provider. A 404 here makes clients fall back to RFC 8414 metadata.
protocolRoute(/^\/\.well-known\/openid-configuration$/, () =>
  json({ error: "not_found", error_description: "This server is not an OpenID Connect provider" }, { status: 404 }),
);
