/** A ProtocolRequest read from Node's request objects (no fetch Request is built). */
import type { IncomingMessage, ServerResponse } from "node:http";
import { readBody } from "./body.server";
import type { ProtocolRequest, RequestInfo } from "./protocol.server";

// Node keeps only the first of some repeated headers (Authorization, Content-Type); fetch joins
// them. Joining keeps the in-process tests (fetch Requests) and the server identical: two
// Authorization headers are never one valid one.
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

export function nodeProtocolRequest(req: IncomingMessage, res: ServerResponse, pathname: string, info: RequestInfo): ProtocolRequest {
  let cancels: (() => void)[] | undefined;
  return {
    method: req.method ?? "GET",
    pathname,
    clientAddress: info.clientAddress,
    requestId: info.requestId,
    header: (name) => nodeHeader(req, name),
    readBody: (maxBytes) => readBody(req, maxBytes),
    onAbort(cancel) {
      if (req.socket.destroyed) return queueMicrotask(cancel);
      if (!cancels) {
        const list: (() => void)[] = (cancels = []);
        res.once("close", () => {
          if (!res.writableFinished) for (const c of list) c();
        });
      }
      cancels.push(cancel);
    },
  };
}
