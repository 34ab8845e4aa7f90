/**
 * The route table of the protocol endpoints: every path served before (and without) Remix, in one
 * place, with the error mapper of its protocol. A newcomer follows a token from /token to /mcp here.
 * Patterns match the whole pathname; the first match wins; anything else goes to the pages.
 */
import type { AppContext } from "~/context.server";
import { answerMcp, mcpCrashAnswer } from "~/mcp/endpoint.server";
import {
  authorizationServerMetadataEndpoint,
  openIdConfigurationEndpoint,
  originResourceMetadataEndpoint,
  registrationEndpoint,
  revocationEndpoint,
  serverResourceMetadataEndpoint,
  tokenEndpoint,
} from "~/oauth/endpoints.server";
import { oauthErrorAnswer } from "~/oauth/errors.server";
import { healthEndpoint, readinessEndpoint } from "./health.server";
import type { ProtocolAnswer, ProtocolHandler } from "./protocol.server";

export type ProtocolRoute = {
  pattern: RegExp;
  handler: ProtocolHandler;
  /** What an unexpected exception in the handler answers (a generic 500, logged, no detail sent). */
  crash: (error: unknown, ctx: AppContext) => ProtocolAnswer;
};

const oauthCrash = (error: unknown, ctx: AppContext) => oauthErrorAnswer(error, ctx);
const jsonRpcCrash = (error: unknown, ctx: AppContext) => {
  ctx.logger.error("unexpected error in the MCP endpoint", { error });
  return mcpCrashAnswer();
};

export const PROTOCOL_ROUTES: readonly ProtocolRoute[] = [
  { pattern: /^\/mcp\/([A-Za-z0-9_-]{1,64})$/, handler: (request, ctx, match) => answerMcp(request, ctx, match[1]!), crash: jsonRpcCrash },
  { pattern: /^\/token$/, handler: tokenEndpoint, crash: oauthCrash },
  { pattern: /^\/register$/, handler: registrationEndpoint, crash: oauthCrash },
  { pattern: /^\/revoke$/, handler: revocationEndpoint, crash: oauthCrash },
  { pattern: /^\/\.well-known\/oauth-authorization-server$/, handler: authorizationServerMetadataEndpoint, crash: oauthCrash },
  { pattern: /^\/\.well-known\/oauth-protected-resource$/, handler: originResourceMetadataEndpoint, crash: oauthCrash },
  { pattern: /^\/\.well-known\/oauth-protected-resource\/mcp\/([^/]+)$/, handler: serverResourceMetadataEndpoint, crash: oauthCrash },
  { pattern: /^\/\.well-known\/openid-configuration$/, handler: openIdConfigurationEndpoint, crash: oauthCrash },
  { pattern: /^\/healthz$/, handler: healthEndpoint, crash: oauthCrash },
  { pattern: /^\/readyz$/, handler: readinessEndpoint, crash: oauthCrash },
];

export function matchProtocolRoute(
  pathname: string,
  routes: readonly ProtocolRoute[] = PROTOCOL_ROUTES,
): { route: ProtocolRoute; match: RegExpExecArray } | null {
  for (const route of routes) {
    const match = route.pattern.exec(pathname);
    if (match) return { route, match };
  }
  return null;
}

/** Whether a protocol route answers this raw path (the limiter: those are served before Remix). */
export function isProtocolPath(pathname: string, routes: readonly ProtocolRoute[] = PROTOCOL_ROUTES): boolean {
  return matchProtocolRoute(pathname, routes) !== null;
}

/** Every protocol route's pattern (the generative battery derives its paths from them). */
export function protocolRoutePatterns(): RegExp[] {
  return PROTOCOL_ROUTES.map((route) => route.pattern);
}
