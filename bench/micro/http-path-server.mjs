// The layers of the app's per-request HTTP path, one at a time, so their cost can be measured
// (bench/micro/http-path.mjs). Usage: node http-path-server.mjs <mode> <logFile>
//   bare           node:http, res.end(JSON) with Content-Length
//   fetch-bridge   + @remix-run/node-fetch-server createRequest and sendResponse around a handler
//                  returning new Response(JSON) (what every protocol route pays)
//   direct-write   createRequest, but the Response is written with one res.end(buffer) and a
//                  Content-Length instead of sendResponse's stream pump and chunked encoding
//   request-only   createRequest only, answered with res.end (the cost of building the Request)
//   response-only  no Request; a handler's new Response(JSON) written with one res.end
//   plain-request  new Request(url, { method, headers: req.headers }) only (no body stream)
//   light-bridge   Request/Response kept, built cheaply (body read first, no signal, one res.end)
//   app-path       fetch-bridge + what app/http/server.server.ts added before decision 056: randomUUID request id,
//                  isTrusted (a new net.BlockList per call), AsyncLocalStorage scope, a close listener,
//                  and one JSON access-log line per request written synchronously to a file
import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import { createRequest, sendResponse } from "@remix-run/node-fetch-server";

const [mode, logFile] = process.argv.slice(2);
const BODY = { status: "ok", id: 1 };
const handler = () => {
  const headers = new Headers();
  headers.set("Content-Type", "application/json");
  headers.set("X-Content-Type-Options", "nosniff");
  headers.set("Cache-Control", "no-store");
  return new Response(JSON.stringify(BODY), { status: 200, headers });
};
const toRequest = (req, res) => createRequest(req, res, { host: "127.0.0.1:3000", protocol: "http:" });

async function directWrite(res, response) {
  const headers = {};
  for (const [k, v] of response.headers) headers[k] = k in headers ? [].concat(headers[k], v) : v;
  const body = response.body ? Buffer.from(await response.arrayBuffer()) : undefined;
  if (body) headers["content-length"] = body.length;
  res.writeHead(response.status, headers);
  res.end(body);
}

function isTrusted(address, trusted) {
  const list = new net.BlockList();
  for (const entry of trusted) if (entry === "loopback") list.addSubnet("127.0.0.0", 8, "ipv4");
  return net.isIP(address) !== 0 && list.check(address, "ipv4");
}
const scope = new AsyncLocalStorage();
const out = logFile ? fs.openSync(logFile, "a") : null;
const log = (fields) => {
  const s = scope.getStore();
  fs.writeSync(out, JSON.stringify({ time: new Date().toISOString(), level: "info", msg: "request", requestId: s?.requestId, ...fields }) + "\n");
};

let listener;
if (mode === "bare") {
  const text = JSON.stringify(BODY);
  listener = (_req, res) => {
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    res.end(text);
  };
} else if (mode === "fetch-bridge") {
  listener = (req, res) => {
    const request = toRequest(req, res);
    Promise.resolve()
      .then(() => handler(request))
      .then((response) => sendResponse(res, response));
  };
} else if (mode === "direct-write") {
  listener = (req, res) => {
    const request = toRequest(req, res);
    Promise.resolve()
      .then(() => handler(request))
      .then((response) => directWrite(res, response));
  };
} else if (mode === "request-only") {
  const text = JSON.stringify(BODY);
  listener = (req, res) => {
    toRequest(req, res);
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    res.end(text);
  };
} else if (mode === "response-only") {
  listener = (_req, res) => {
    Promise.resolve()
      .then(() => handler())
      .then((response) => directWrite(res, response));
  };
} else if (mode === "plain-request") {
  // A WHATWG Request built by hand from a plain header object (no stream, no abort lifecycle).
  const text = JSON.stringify(BODY);
  listener = (req, res) => {
    new Request(`http://127.0.0.1:3000${req.url}`, { method: req.method, headers: req.headers });
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    res.end(text);
  };
} else if (mode === "light-bridge") {
  // Still a fetch Request in and a Response out, but built cheaply: the body is read with Node's
  // stream API first, the Request gets a plain header object and no AbortSignal, and the Response
  // is written with one res.end and a Content-Length.
  listener = (req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const init = { method: req.method, headers: req.headers };
      if (req.method !== "GET" && req.method !== "HEAD") init.body = Buffer.concat(chunks);
      const request = new Request(`http://127.0.0.1:3000${req.url}`, init);
      Promise.resolve()
        .then(() => handler(request))
        .then((response) => directWrite(res, response));
    });
  };
} else if (mode === "app-path") {
  listener = (req, res) => {
    const trusted = isTrusted(req.socket.remoteAddress ?? "", []);
    const requestId = (trusted && req.headers["x-request-id"]) || randomUUID();
    res.setHeader("X-Request-Id", requestId);
    res.setHeader("X-Content-Type-Options", "nosniff");
    const started = performance.now();
    const pathname = (req.url ?? "/").split("?")[0];
    res.on("close", () => {
      scope.run({ requestId }, () =>
        log({ method: req.method, path: pathname, status: res.statusCode, ms: Math.round(performance.now() - started), client: req.socket.remoteAddress }),
      );
    });
    scope.run({ requestId }, () => {
      const request = toRequest(req, res);
      Promise.resolve()
        .then(() => handler(request))
        .then((response) => sendResponse(res, response));
    });
  };
} else {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}
const server = http.createServer(listener);
server.keepAliveTimeout = 65_000;
server.listen(0, "127.0.0.1", () => process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n"));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
