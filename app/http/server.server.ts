import http from "node:http";
import path from "node:path";
import { randomBytes, randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { createRequest } from "@remix-run/node-fetch-server";
import { createRequestHandler, type ServerBuild } from "@remix-run/node";
import serveStatic from "serve-static";
import { requestContext, type AppContext } from "~/context.server";
import { clientAddressOf, isTrusted } from "./client-address.server";
import { json } from "./headers.server";
import { nodeProtocolRequest } from "./node-request.server";
import { markDraining, runShutdownHooks } from "./lifecycle.server";
import { DEFAULT_LIMITS, limitFor, limitKey, RateLimiter, rateLimitedResponse, sharedBucketsOf } from "./rate-limit.server";
import { checkPageForm } from "./page-form.server";
import type { ProtocolAnswer, RequestInfo } from "./protocol.server";
import { checkRequestTarget, protocolPathname } from "./request-target.server";
import { isProtocolPath, matchProtocolRoute, type ProtocolRoute } from "./routes.server";
import { endWith, writeAnswer, writeFetchResponse, type BaseHeaders } from "./writer.server";

/** A Remix page (or anything else that is not a protocol endpoint): fetch Request in, Response out. */
type PageHandler = (request: Request, ctx: AppContext, info: RequestInfo) => Response | Promise<Response>;

export type StartOptions = {
  ctx: AppContext;
  /** The Remix build; without it only the protocol endpoints answer (integration tests). */
  build?: ServerBuild;
  /** Folder with favicon and the client build (public/build). */
  publicDir?: string;
  mode?: "production" | "development";
  port?: number;
  host?: string;
  /** The protocol route table (PROTOCOL_ROUTES; tests add routes of their own). */
  routes?: readonly ProtocolRoute[];
};

export type RunningServer = {
  server: http.Server;
  url: string;
  /** Requests received and not yet answered. */
  inFlight(): number;
  /**
   * Stops accepting connections, lets in-flight requests finish (up to `graceMs`, then open
   * connections are cut) and resolves once every connection is closed.
   */
  close(graceMs?: number): Promise<{ forced: boolean }>;
};

// Health probes run every few seconds; logging each one at info would drown the useful lines.
const QUIET_PATHS = new Set(["/healthz", "/readyz", "/favicon.ico"]);

export async function startHttpServer(options: StartOptions): Promise<RunningServer> {
  const { ctx, build } = options;
  const mode = options.mode ?? "production";
  // PUBLIC_URL is authoritative: every Request (protocol or page) is built against it, never
  // against the Host or X-Forwarded-Host headers, which a client can set to anything.
  const publicUrl = new URL(ctx.config.publicUrl);
  const toRequest = (req: http.IncomingMessage, res: http.ServerResponse) =>
    createRequest(req, res, { host: publicUrl.host, protocol: publicUrl.protocol });

  const remix = build ? createRequestHandler(build, mode) : undefined;
  const pages: PageHandler = async (request, _ctx, info) => {
    if (!remix) return json({ error: "not_found" }, { status: 404 });
    const page = pageRequest(request, publicUrl);
    if (page instanceof Response) return page;
    const checked = page.method === "GET" || page.method === "HEAD" ? page : await checkPageForm(page);
    if (checked instanceof Response) return checked;
    return remix(checked, { ctx: requestContext(ctx, info.requestId), cspNonce: randomBytes(16).toString("base64"), ...info });
  };

  const files = staticFiles(options.publicDir);

  // Keyed by the client address below (X-Forwarded-For only from trusted proxies), so one client
  // cannot spend another's budget by forging the header.
  const limiter = ctx.config.rateLimit ? new RateLimiter(DEFAULT_LIMITS, () => ctx.now(), sharedBucketsOf(ctx)) : undefined;

  const hsts = publicUrl.protocol === "https:";
  // The base headers of every answer after its request id (see the request handler below).
  const everyAnswerHeaders = ["X-Content-Type-Options", "nosniff", ...(hsts ? ["Strict-Transport-Security", "max-age=31536000; includeSubDomains"] : [])];
  const drainingHeaders = [...everyAnswerHeaders, "Connection", "close"];

  let draining = false;
  const active = new Set<http.ServerResponse>();

  const server = http.createServer((req, res) => {
    const peer = req.socket.remoteAddress;
    const offeredId = req.headers["x-request-id"];
    const forwardedId =
      typeof offeredId === "string" && isTrusted(normalisedPeer(peer), ctx.config.trustedProxies)
        ? offeredId.slice(0, 64).replace(/[^\w.-]/g, "")
        : undefined;
    const requestId = forwardedId || randomUUID();
    const info: RequestInfo = {
      clientAddress: clientAddressOf(peer, req.headers["x-forwarded-for"] as string | undefined, ctx.config.trustedProxies),
      requestId,
    };
    // Every answer (protocol JSON, static files, empty bodies) carries its request id, is nosniff
    // and, under https, tells browsers to stay on https; pages set the last two again with the rest
    // of their headers. A request that arrives on a kept-alive connection while draining is still
    // answered, and the connection is closed right after it. Protocol answers write these with
    // their own headers (writer.server.ts); anything else gets them set on `res` first.
    const base: BaseHeaders = ["X-Request-Id", requestId, ...(draining ? drainingHeaders : everyAnswerHeaders)];
    active.add(res);
    const started = performance.now();
    // Every route below reads the target in origin form; anything else would make the fetch
    // Request (and so the process) throw.
    const checked = checkRequestTarget(req.method ?? "GET", req.url ?? "/");
    if ("target" in checked) req.url = checked.target;
    const pathname = protocolPathname(req.url ?? "/");
    res.on("close", () => {
      active.delete(res);
      // The query string is never logged: it carries authorization codes and state.
      const fields: Record<string, unknown> = {
        requestId,
        method: req.method,
        path: pathname.slice(0, 200),
        status: res.statusCode,
        ms: Math.round(performance.now() - started),
        client: info.clientAddress,
      };
      if (!res.writableFinished) fields.aborted = true;
      if (res.statusCode >= 500) ctx.logger.error("request", fields);
      else if (QUIET_PATHS.has(pathname)) ctx.logger.debug("request", fields);
      else ctx.logger.info("request", fields);
    });
    if (!("target" in checked)) {
      const headers = { "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store", ...(checked.status === 405 ? { Allow: "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS" } : {}) };
      return endWith(res, checked.status, headers, checked.message, false, base);
    }
    // Before protocol handlers and Remix alike, by the route that will answer (decision 028):
    // 429 with Retry-After, never 400/401 (which send OAuth clients into re-authorization loops).
    const limitName = limiter ? limitFor(req.method ?? "GET", checked.target, (path) => isProtocolPath(path, options.routes)) : null;
    const wait = limitName ? limiter!.take(limitName, limitKey(info.clientAddress)) : 0;
    if (typeof wait === "number") return route(wait, pathname, req, res, info, base);
    // Shared buckets (several replicas): one database statement first. If the database cannot
    // answer, the request goes on unlimited and meets the same database in its handler.
    wait.then(
      (seconds) => route(seconds, pathname, req, res, info, base),
      (error: unknown) => {
        ctx.logger.warn("rate limit could not be checked", { requestId, error });
        route(0, pathname, req, res, info, base);
      },
    );
  });

  function route(wait: number, pathname: string, req: http.IncomingMessage, res: http.ServerResponse, info: RequestInfo, base: BaseHeaders): void {
    const protocol = wait > 0 ? null : matchProtocolRoute(pathname, options.routes);
    if (protocol) return serveProtocol(protocol.route, protocol.match, pathname, req, res, info, base);
    // Pages, static files and the rate-limit answer write through Node's own header store.
    for (let i = 0; i < base.length; i += 2) res.setHeader(base[i]!, base[i + 1]!);
    if (wait > 0) return respond(() => rateLimitedResponse(wait), req, res, info);
    // Only a path that can name a file of public/ (under /build/, or a last segment with a dot,
    // like /favicon.ico) goes through serve-static, which costs a stat() per request; pages
    // go straight to Remix.
    if (!mayBeStaticFile(pathname)) return respond(pages, req, res, info);
    files(req, res, () => respond(pages, req, res, info));
  }
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 120_000;

  function serveProtocol(
    route: ProtocolRoute,
    match: RegExpExecArray,
    pathname: string,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    info: RequestInfo,
    base: BaseHeaders,
  ): void {
    // A server that starts draining while this request is in flight sets Connection: close on
    // its response (close() below), which Node merges with these.
    const write = (answer: ProtocolAnswer) => writeAnswer(req, res, answer, base);
    let result: ProtocolAnswer | Promise<ProtocolAnswer>;
    const handledWith = requestContext(ctx, info.requestId);
    try {
      result = route.handler(nodeProtocolRequest(req, res, pathname, info), handledWith, match);
    } catch (error) {
      result = Promise.reject(error);
    }
    if (!(result instanceof Promise)) return write(result);
    result
      .catch((error: unknown) => {
        if (res.headersSent) throw error;
        return route.crash(error, handledWith);
      })
      .then(write)
      .catch(() => res.destroy());
  }

  function respond(handler: PageHandler, req: http.IncomingMessage, res: http.ServerResponse, info: RequestInfo) {
    let request: Request;
    try {
      request = toRequest(req, res);
    } catch (error) {
      // A request the fetch API cannot represent is the client's mistake, never a crash or a 500.
      ctx.logger.warn("request could not be read", { requestId: info.requestId, error: error instanceof Error ? error.message : String(error) });
      return endWith(res, 400, { "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store" }, "Bad request.");
    }
    Promise.resolve()
      .then(() => handler(request, ctx, info))
      .catch((error: unknown) => {
        ctx.logger.error("unhandled error", { requestId: info.requestId, error, path: new URL(request.url).pathname });
        return json(
          { error: "server_error", error_description: "The server could not complete the request" },
          { status: 500, noStore: true },
        );
      })
      .then((response) => {
        if (draining) response.headers.set("Connection", "close");
        // A JSON answer from json() is written at once instead of streaming its body back.
        return writeFetchResponse(req, res, response);
      })
      .catch(() => res.destroy());
  }

  const listenPort = options.port ?? ctx.config.port;
  const listenHost = options.host ?? ctx.config.host;
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) => reject(listenError(error, listenHost, listenPort)));
    server.listen(listenPort, listenHost, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;

  let closing: Promise<{ forced: boolean }> | undefined;
  return {
    server,
    url: `http://${host}:${address.port}`,
    inFlight: () => active.size,
    close(graceMs = 10_000) {
      closing ??= new Promise((resolve) => {
        draining = true;
        let forced = false;
        for (const res of active) if (!res.headersSent) res.setHeader("Connection", "close");
        const timer = setTimeout(() => {
          forced = true;
          server.closeAllConnections();
        }, graceMs);
        timer.unref();
        // server.close stops accepting and resolves once every connection has ended; idle
        // keep-alive connections are closed now, busy ones right after their response.
        server.close(() => {
          clearTimeout(timer);
          resolve({ forced });
        });
        server.closeIdleConnections();
        const sweep = setInterval(() => server.closeIdleConnections(), 100);
        sweep.unref();
        server.once("close", () => clearInterval(sweep));
      });
      return closing;
    },
  };
}

/**
 * Remix refuses a form post whose Origin differs from the Host (or X-Forwarded-Host) header by
 * throwing, which would answer 500, and compares against headers a client or proxy sets. PUBLIC_URL
 * is the origin that counts: a foreign (or "null") Origin gets the same 403 as a failed CSRF check,
 * and our own origin passes whatever Host a reverse proxy forwarded.
 */
function pageRequest(request: Request, publicUrl: URL): Request | Response {
  if (request.method === "GET" || request.method === "HEAD") return request;
  const origin = request.headers.get("Origin");
  if (origin !== null && origin !== publicUrl.origin) {
    return new Response("This form has expired. Reload the page and try again.", {
      status: 403,
      headers: { "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store" },
    });
  }
  // Every page action reads a form; any other body would make request.formData() throw (a 500).
  const type = (request.headers.get("Content-Type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded" && type !== "multipart/form-data") {
    return new Response("Send the form as application/x-www-form-urlencoded or multipart/form-data.", {
      status: 415,
      headers: { "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store" },
    });
  }
  if (request.headers.get("Host") === publicUrl.host && !request.headers.has("X-Forwarded-Host")) return request;
  const headers = new Headers(request.headers);
  headers.set("Host", publicUrl.host);
  headers.delete("X-Forwarded-Host");
  return new Request(request.url, { method: request.method, headers, body: request.body, signal: request.signal, duplex: "half" } as RequestInit);
}

function mayBeStaticFile(pathname: string): boolean {
  return pathname.startsWith("/build/") || pathname.lastIndexOf(".") > pathname.lastIndexOf("/");
}

function normalisedPeer(address: string | undefined): string {
  const a = address ?? "";
  return a.startsWith("::ffff:") ? a.slice(7) : a;
}

export type ServeOptions = {
  /** How long in-flight requests may take after the first signal (default 10 s). */
  graceMs?: number;
  /** Called instead of process.exit when a second signal forces the stop (tests). */
  forceExit?: () => void;
  /** Where SIGTERM and SIGINT come from; tests pass their own emitter. */
  signals?: NodeJS.EventEmitter;
};

/**
 * Runs until SIGTERM or SIGINT, then shuts down in order: /readyz turns 503, the listener closes,
 * in-flight requests finish, shutdown hooks flush buffered work, the database closes (WAL
 * checkpointed). A second signal exits at once with status 130.
 */
export async function serveUntilSignal(ctx: AppContext, running: RunningServer, options: ServeOptions = {}): Promise<void> {
  const signals = options.signals ?? process;
  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        ctx.logger.warn("second signal: exiting without waiting", { signal, inFlight: running.inFlight() });
        (options.forceExit ?? (() => process.exit(130)))();
        return;
      }
      stopping = true;
      ctx.logger.info("shutting down", { signal, inFlight: running.inFlight() });
      markDraining();
      void shutdown(ctx, running, options.graceMs ?? 10_000).then(() => {
        signals.off("SIGTERM", onSignal);
        signals.off("SIGINT", onSignal);
        resolve();
      });
    };
    signals.on("SIGTERM", onSignal);
    signals.on("SIGINT", onSignal);
  });
}

async function shutdown(ctx: AppContext, running: RunningServer, graceMs: number): Promise<void> {
  const { forced } = await running.close(graceMs);
  if (forced) ctx.logger.warn("grace period over: open connections were closed", { graceMs });
  await runShutdownHooks(ctx);
  try {
    // Waits for an open transaction, then runs `pragma optimize` and closes the connection.
    await ctx.store.close();
  } catch (error) {
    ctx.logger.error("closing the database failed", { error });
  }
  ctx.logger.info("stopped");
}

/** Why the server could not listen, in words that say which setting to change (the code kept at the end). */
function listenError(error: NodeJS.ErrnoException, host: string, port: number): Error {
  const where = `Cannot listen on ${host}:${port}`;
  switch (error.code) {
    case "EADDRINUSE":
      return new Error(`${where}: the port is already in use by another program (or another Toolgate). Set PORT to a free port. (EADDRINUSE)`);
    case "EACCES":
      return new Error(`${where}: permission denied; ports below 1024 need privileges. Set PORT to 1024 or above. (EACCES)`);
    case "EADDRNOTAVAIL":
      return new Error(`${where}: this machine has no such address. Set HOST to one of its addresses, such as 127.0.0.1 or 0.0.0.0. (EADDRNOTAVAIL)`);
    default:
      return error;
  }
}

type Next = () => void;

/**
 * The files of public/: the client build under /build/ (content-hashed names, so cached for a year
 * as immutable) and the rest for an hour. A request for no such file, or for a folder (no listings,
 * no redirects), goes on to `next`: the pages.
 */
function staticFiles(publicDir: string | undefined): (req: http.IncomingMessage, res: http.ServerResponse, next: Next) => void {
  if (!publicDir) return (_req, _res, next) => next();
  const build = serveStatic(path.join(publicDir, "build"), { immutable: true, maxAge: "1y", index: false, redirect: false });
  const rest = serveStatic(publicDir, { maxAge: "1h", index: false, redirect: false });
  return (req, res, next) => {
    const url = req.url ?? "/";
    if (!url.startsWith("/build/")) return rest(req, res, () => next());
    // Served relative to public/build, as a mount would; the URL is restored for the pages.
    req.url = url.slice("/build".length);
    build(req, res, () => {
      req.url = url;
      next();
    });
  };
}
