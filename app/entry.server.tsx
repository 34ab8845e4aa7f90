import type { AppLoadContext, EntryContext } from "@remix-run/node";
import { isRouteErrorResponse, RemixServer } from "@remix-run/react";
import { renderToString } from "react-dom/server";
import { NonceProvider } from "./components/nonce";
import { knownTextResponse, pageSecurityHeaders } from "./http/headers.server";

// The HTTP server and the CLI live in the same bundle as the app, so they share one module graph
// (one database handle). bin/toolgate.js reaches them through the build's `entry.module`.
export { runCli } from "./cli/main.server";

/**
 * Pages are rendered to one string: no route defers data or suspends, so streaming would only add
 * a stream, a web-stream wrapper and an abort timer per request, and send the same bytes in
 * chunks. The Node server writes the known text at once, with a Content-Length
 * (app/http/node-request.server.ts, writeFetchResponse). A render error throws; Remix logs it
 * through handleError and renders the error boundary, or its last-resort 500 page.
 */
export default function handleRequest(
  request: Request,
  responseStatusCode: number,
  responseHeaders: Headers,
  remixContext: EntryContext,
  loadContext: AppLoadContext,
) {
  const nonce = loadContext.cspNonce;
  const html = renderToString(
    <NonceProvider value={nonce}>
      <RemixServer context={remixContext} url={request.url} nonce={nonce} />
    </NonceProvider>,
  );
  responseHeaders.set("Content-Type", "text/html; charset=utf-8");
  pageSecurityHeaders(responseHeaders, nonce, loadContext.ctx.config.secureCookies);
  return knownTextResponse(`<!DOCTYPE html>${html}`, {
    headers: responseHeaders,
    status: responseStatusCode,
  });
}

export function handleError(error: unknown, { request, context }: { request: Request; context: AppLoadContext }) {
  if (request.signal.aborted) return;
  // A 404 for an unknown URL (scanners, typos) is not an error; its request line says enough.
  if (isRouteErrorResponse(error) && error.status < 500) return;
  context.ctx.logger.error("unhandled error", { error, path: new URL(request.url).pathname });
}
