/**
 * The one request type and the one answer type of every protocol endpoint (/token, /register,
 * /revoke, /mcp/*, discovery, health), served by app/http/server.server.ts from the route table in
 * app/http/routes.server.ts, before and without Remix (docs/decisions/001, 035).
 *
 * A `ProtocolRequest` is read from Node's IncomingMessage without building a fetch Request (that
 * conversion costs more CPU than a whole bare Node answer); a `ProtocolAnswer` is plain data that
 * app/http/writer.server.ts writes in one go. Tests build the same request from a fetch Request
 * (tests/helpers/protocol.ts) and call the same handlers.
 */
import type { AppContext } from "~/context.server";

export type RequestInfo = { clientAddress: string; requestId: string };

/** What reading a body gave: its text, or why there is none (the reader stops at the cap). */
export type BodyRead = { kind: "ok"; text: string } | { kind: "too_large" } | { kind: "aborted" };

export type ProtocolRequest = RequestInfo & {
  /** The HTTP method, upper case. */
  method: string;
  pathname: string;
  /** A request header by lower-case name; repeated headers joined with ", " as fetch joins them. */
  header(name: string): string | null;
  /** Reads the body once, up to `maxBytes` (app/http/body.server.ts is the only reader). */
  readBody(maxBytes: number): Promise<BodyRead>;
  /** Calls `cancel` if the client goes away before the answer is written. */
  onAbort(cancel: () => void): void;
};

/** A whole answer: status, headers (an array for a repeated header) and the body text, or null. */
export type ProtocolAnswer = { status: number; headers: Record<string, string | string[]>; body: string | null };

/** A protocol endpoint. `match` is the route pattern's match of the pathname. */
export type ProtocolHandler = (request: ProtocolRequest, ctx: AppContext, match: RegExpExecArray) => ProtocolAnswer | Promise<ProtocolAnswer>;

/** Headers for answers that carry or concern credentials (RFC 6749 §5.1): never cached. */
export const NO_STORE = { "Cache-Control": "no-store", Pragma: "no-cache" } as const;

/** A JSON answer. `headers` are copied, never modified. */
export function jsonAnswer(status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): ProtocolAnswer {
  return { status, headers: { ...headers, "Content-Type": "application/json" }, body: JSON.stringify(body) };
}
