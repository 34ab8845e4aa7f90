import http from "node:http";
import path from "node:path";
import { randomBytes, randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { createRequestHandler } from "@remix-run/express";
import { createRequest, sendResponse } from "@remix-run/node-fetch-server";
import type { ServerBuild } from "@remix-run/node";
import express from "express";
import type { AppContext } from "~/context.server";
import { logScope } from "~/utils/log.server";
import { clientAddressOf } from "./client-address.server";
import { json } from "./headers.server";
import { matchProtocolRoute } from "./protocol.server";
import "./routes.server";

export type StartOptions = {
  ctx: AppContext;
  /** The Remix build; without it only the protocol endpoints answer (integration tests). */
  build?: ServerBuild;
  /** Folder with favicon and the client build (public/build). */
  publicDir?: string;
  mode?: "production" | "development";
  port?: number;
  host?: string;
};

export type RunningServer = {
  server: http.Server;
  url: string;
  /** Stops accepting, lets in-flight requests finish (up to `graceMs`), then resolves. */
  close(graceMs?: number): Promise<void>;
};

const requestInfo = new WeakMap<http.IncomingMessage, { clientAddress: string; requestId: string }>();

export async function startHttpServer(options: StartOptions): Promise<RunningServer> {
  const { ctx, build } = options;
  const mode = options.mode ?? "production";
  const app = express();
  app.disable("x-powered-by");
  if (options.publicDir) {
    app.use(
      "/build",
      express.static(path.join(options.publicDir, "build"), { immutable: true, maxAge: "1y", index: false }),
    );
    app.use(express.static(options.publicDir, { maxAge: "1h", index: false }));
  }
  if (build) {
    app.all(
      "*",
      createRequestHandler({
        build,
        mode,
        getLoadContext: (req) => ({
          ctx,
          cspNonce: randomBytes(16).toString("base64"),
          ...requestInfo.get(req)!,
        }),
      }),
    );
  }

  const publicUrl = new URL(ctx.config.publicUrl);
  const server = http.createServer((req, res) => {
    const requestId = (req.headers["x-request-id"] as string | undefined)?.slice(0, 64).replace(/[^\w.-]/g, "") || randomUUID();
    const clientAddress = clientAddressOf(
      req.socket.remoteAddress,
      req.headers["x-forwarded-for"] as string | undefined,
      ctx.config.trustedProxies,
    );
    res.setHeader("X-Request-Id", requestId);
    const started = performance.now();
    res.on("finish", () => {
      if (ctx.config.logLevel === "debug" || res.statusCode >= 500) {
        logScope.run({ requestId }, () =>
          ctx.logger[res.statusCode >= 500 ? "error" : "debug"]("request", {
            method: req.method,
            path: (req.url ?? "").split("?")[0],
            status: res.statusCode,
            ms: Math.round(performance.now() - started),
            client: clientAddress,
          }),
        );
      }
    });
    logScope.run({ requestId }, () => {
      const pathname = (req.url ?? "/").split("?")[0]!;
      const handler = matchProtocolRoute(pathname);
      if (!handler) {
        requestInfo.set(req, { clientAddress, requestId });
        app(req as express.Request, res as express.Response);
        return;
      }
      // The issuer is PUBLIC_URL, so requests are parsed against it (never the Host header).
      const request = createRequest(req, res, { host: publicUrl.host, protocol: publicUrl.protocol });
      Promise.resolve()
        .then(() => handler(request, ctx, { clientAddress, requestId }))
        .catch((error: unknown) => {
          ctx.logger.error("unhandled error in protocol handler", { error, path: pathname });
          return json(
            { error: "server_error", error_description: "The server could not complete the request" },
            { status: 500, noStore: true },
          );
        })
        .then((response) => sendResponse(res, response))
        .catch(() => res.destroy());
    });
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 120_000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? ctx.config.port, options.host ?? ctx.config.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;

  let closing: Promise<void> | undefined;
  return {
    server,
    url: `http://${host}:${address.port}`,
    close(graceMs = 10_000) {
      closing ??= new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        timer.unref();
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
