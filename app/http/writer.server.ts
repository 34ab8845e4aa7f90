/**
 * The one Node writer of the server: every answer (protocol endpoints, pages, errors) leaves
 * through `endWith`, which owns Content-Length and the end-of-turn batching below.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { sendResponse } from "@remix-run/node-fetch-server";
import { knownBodyText } from "./headers.server";
import type { ProtocolAnswer } from "./protocol.server";

/** Name, value, name, value, ...: headers every answer of a request carries (see `endWith`). */
export type BaseHeaders = readonly string[];

const NO_BASE: BaseHeaders = [];

/**
 * Writes a whole answer in one go. `writeHead` followed by `end(body)` without a Content-Length
 * answers with chunked transfer encoding, which Node writes as several buffers (a `writev` per
 * answer, and a chunk trailer the client must parse); with Content-Length set first, headers and
 * body leave in a single write. `headers` is not modified (callers pass shared constants).
 *
 * `base` (the request id, nosniff, HSTS; app/http/server.server.ts) goes out with the answer's own
 * headers in one list, a header the answer sets itself taking its place: nothing is set on `res`
 * beforehand, so Node writes the list as given instead of storing, lower-casing and re-reading
 * every header (about 2 µs per answer). Headers already set on `res` (a page's, or Connection on a
 * draining server) are still merged by Node.
 */
export function endWith(
  res: ServerResponse,
  status: number,
  headers: Readonly<Record<string, string | string[]>>,
  body: string | null,
  head = false,
  base: BaseHeaders = NO_BASE,
): void {
  const list: (string | string[])[] = [];
  for (let i = 0; i < base.length; i += 2) if (!Object.hasOwn(headers, base[i]!)) list.push(base[i]!, base[i + 1]!);
  for (const name in headers) list.push(name, headers[name]!);
  // RFC 9110 §8.6: no Content-Length on 204 or 304; HEAD states the length of the GET body.
  if (status !== 204 && status !== 304) list.push("Content-Length", String(body === null ? 0 : Buffer.byteLength(body)));
  res.writeHead(status, list);
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

/** Writes a protocol endpoint's answer (HEAD: the headers of the GET answer, no body). */
export function writeAnswer(req: IncomingMessage, res: ServerResponse, answer: ProtocolAnswer, base: BaseHeaders): void {
  endWith(res, answer.status, answer.headers, answer.body, req.method === "HEAD", base);
}
