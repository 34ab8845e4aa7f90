/**
 * What the hot protocol endpoints need from an HTTP request, taken from Node's IncomingMessage
 * without building a fetch Request (app/http/protocol.server.ts, nodeProtocolRoute), and the way
 * back: a fetch Response written to Node's ServerResponse.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { sendResponse } from "@remix-run/node-fetch-server";
import { knownBodyText } from "./headers.server";

// Node keeps only the first of some repeated headers (Authorization, Content-Type); fetch joins
// them. Joining here keeps both paths identical: two Authorization headers are never one valid one.
const JOINED_BY_FETCH_ONLY = new Set(["authorization", "content-type"]);

/** A request header by lower-case name, repeated headers joined with ", " as fetch's Headers does. */
export function nodeHeader(req: IncomingMessage, name: string): string | null {
  if (JOINED_BY_FETCH_ONLY.has(name)) {
    const raw = req.rawHeaders;
    let value: string | null = null;
    for (let i = 0; i < raw.length; i += 2) {
      if (raw[i]!.length === name.length && raw[i]!.toLowerCase() === name) {
        value = value === null ? raw[i + 1]! : `${value}, ${raw[i + 1]}`;
      }
    }
    return value;
  }
  const value = req.headers[name];
  return value === undefined ? null : Array.isArray(value) ? value.join(", ") : value;
}

/**
 * The body as UTF-8 text, or null as soon as it passes `maxBytes` (the rest is not read; answer
 * with Connection: close). Rejects when the client goes away mid-body.
 */
export function readNodeText(req: IncomingMessage, maxBytes: number): Promise<string | null> {
  const length = req.headers["content-length"];
  if (length !== undefined && Number(length) > maxBytes) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (text: string | null, error?: Error) => {
      if (settled) return;
      settled = true;
      req.off("data", onData).off("end", onEnd).off("error", onError).off("aborted", onAborted);
      if (error) reject(error);
      else resolve(text);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > maxBytes) {
        req.pause();
        return finish(null);
      }
      chunks.push(chunk);
    };
    const onEnd = () => finish(chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8"));
    const onError = (error: Error) => finish(null, error);
    const onAborted = () => finish(null, new Error("the request body was not received"));
    req.on("data", onData).on("end", onEnd).on("error", onError).on("aborted", onAborted);
  });
}

/**
 * Writes a whole answer in one go. `writeHead` followed by `end(body)` without a Content-Length
 * answers with chunked transfer encoding, which Node writes as several buffers (a `writev` per
 * answer, and a chunk trailer the client must parse); with Content-Length set first, headers and
 * body leave in a single write. `headers` is not modified (callers pass shared constants).
 */
export function endWith(
  res: ServerResponse,
  status: number,
  headers: Readonly<Record<string, string>>,
  body: string | null,
  head = false,
): void {
  // RFC 9110 §8.6: no Content-Length on 204 or 304; HEAD states the length of the GET body.
  if (status !== 204 && status !== 304) res.setHeader("Content-Length", body === null ? 0 : Buffer.byteLength(body));
  res.writeHead(status, headers as Record<string, string>);
  endSoon(res, head || body === null ? undefined : body);
}

// Answers finished while the event loop is busy are sent together at the end of the loop turn
// (setImmediate) instead of one by one: a burst of socket writes costs the kernel one wake-up of
// whatever reads them (a reverse proxy, a load generator) instead of one per answer. Measured on
// these machines at ~100 µs of work per request: about 10 µs less CPU per request. The delay is
// the rest of the current loop turn.
let unsent: { res: ServerResponse; body: string | undefined }[] = [];

function sendUnsent(): void {
  const batch = unsent;
  unsent = [];
  for (const { res, body } of batch) {
    try {
      res.end(body);
    } catch {
      // One broken connection must not hold back the others' answers.
      res.destroy();
    }
  }
}

function endSoon(res: ServerResponse, body: string | undefined): void {
  if (unsent.length === 0) setImmediate(sendUnsent);
  unsent.push({ res, body });
}

/**
 * Writes a fetch Response: an answer whose body text is known (json(), rendered pages) directly,
 * with a Content-Length, anything else through its body stream.
 */
export async function writeFetchResponse(req: IncomingMessage, res: ServerResponse, response: Response): Promise<void> {
  const text = knownBodyText(response);
  if (text === undefined) return sendResponse(res, response);
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    // Each cookie stays its own Set-Cookie header (fetch's forEach lists them one by one).
    if (name !== "set-cookie") headers[name] = value;
  });
  if (response.headers.has("set-cookie")) headers["set-cookie"] = response.headers.getSetCookie();
  // writeHead takes an array for a repeated header.
  endWith(res, response.status, headers as Record<string, string>, text, req.method === "HEAD");
}
