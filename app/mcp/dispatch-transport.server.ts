/**
 * An in-process SDK transport that lets one long-lived SDK `Server` answer requests from many
 * HTTP requests and many clients at once (docs/decisions/008-mcp-transport.md).
 *
 * Each request is handed to the server under a fresh internal id (clients pick their own ids, so
 * two clients may both send id 1); the answer is matched by that id and given back under the
 * client's original id. Server-initiated messages (notifications, requests) have no stream to go
 * to in a stateless JSON-response endpoint and are dropped.
 */
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import {
  ErrorCode,
  type JSONRPCErrorResponse,
  type JSONRPCMessage,
  type JSONRPCRequest,
  type JSONRPCResultResponse,
} from "@modelcontextprotocol/sdk/types.js";

export type JsonRpcAnswer = JSONRPCResultResponse | JSONRPCErrorResponse;

/** Registers `cancel` to run when the HTTP client goes away (a cheaper stand-in for an AbortSignal). */
export type OnAbort = (cancel: () => void) => void;

type InFlight = { originalId: JSONRPCRequest["id"]; resolve: (answer: JsonRpcAnswer) => void };

type MessageExtra = { authInfo?: AuthInfo };
type RequestEntry = (request: JSONRPCRequest, extra: MessageExtra) => void;

/**
 * The SDK's own request entry point of a connected `Protocol` (`Server`), if this SDK version has
 * one: the method its `transport.onmessage` calls once it has classified a message as a request.
 * The classification tries the response schemas first, and each miss builds a `ZodError`
 * (about 45 µs of the ~100 µs a `tools/list` costs in-process). The endpoint has already
 * validated each message with the SDK's `JSONRPCMessageSchema` and knows it is a request, so it
 * skips only that classification; the SDK still finds the handler, validates params and answers.
 * `null` (a future SDK without the method) falls back to `onmessage`, which is equivalent.
 */
export function sdkRequestEntry(protocol: object): RequestEntry | null {
  const entry = (protocol as { _onrequest?: unknown })._onrequest;
  return typeof entry === "function" ? (entry as RequestEntry).bind(protocol) : null;
}

export class DispatchTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: Transport["onmessage"];

  private nextId = 1;
  private readonly inFlight = new Map<number, InFlight>();
  private requestEntry: RequestEntry | null = null;

  /** Hands requests straight to `protocol`'s request entry (see `sdkRequestEntry`) once connected. */
  useRequestEntry(entry: RequestEntry | null): void {
    this.requestEntry = entry;
  }

  /** Whether requests skip the SDK's message classification (tests check it stays true). */
  get direct(): boolean {
    return this.requestEntry !== null;
  }

  async start(): Promise<void> {}

  async close(): Promise<void> {
    this.onclose?.();
  }

  async send(message: JSONRPCMessage): Promise<void> {
    // Only answers matter here (see the module comment). A structural check: the SDK built them.
    if (!("id" in message) || "method" in message) return;
    const internalId = message.id as number;
    const entry = this.inFlight.get(internalId);
    if (!entry) return;
    this.inFlight.delete(internalId);
    entry.resolve({ ...message, id: entry.originalId } as JsonRpcAnswer);
  }

  /**
   * Hands one request to the server; `answer` resolves with its answer under the client's id.
   * `cancel()` (the client sent notifications/cancelled, or `signal` aborted or called back because
   * the HTTP client went away) tells the server with notifications/cancelled, so the tool call's own signal
   * aborts, and resolves `answer` with an error nobody will read.
   */
  dispatch(
    request: JSONRPCRequest,
    authInfo: AuthInfo,
    signal?: AbortSignal | OnAbort,
  ): { answer: Promise<JsonRpcAnswer>; cancel: () => void } {
    const internalId = this.nextId++;
    if (this.nextId > Number.MAX_SAFE_INTEGER - 1) this.nextId = 1;
    const cancel = () => this.cancel(internalId, "The request was cancelled");
    const answer = new Promise<JsonRpcAnswer>((resolve) => {
      this.inFlight.set(internalId, { originalId: request.id, resolve });
    });
    if (typeof signal === "function") {
      signal(cancel);
    } else if (signal?.aborted) {
      queueMicrotask(cancel);
    } else if (signal) {
      signal.addEventListener("abort", cancel, { once: true });
      void answer.then(() => signal.removeEventListener("abort", cancel));
    }
    const message = { ...request, id: internalId };
    if (this.requestEntry) {
      this.requestEntry(message, { authInfo });
      return { answer, cancel };
    }
    // Without the direct entry the SDK classifies each incoming message by trying zod schemas in
    // turn, and every miss builds a ZodError with a captured stack trace that nobody reads. Stack
    // capture is switched off only for this synchronous hand-over; the request handlers themselves
    // run later, in promise callbacks, with stacks as usual.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      this.onmessage?.(message, { authInfo });
    } finally {
      Error.stackTraceLimit = stackTraceLimit;
    }
    return { answer, cancel };
  }

  private cancel(internalId: number, reason: string): void {
    const entry = this.inFlight.get(internalId);
    if (!entry) return;
    this.inFlight.delete(internalId);
    this.onmessage?.({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: internalId, reason } });
    entry.resolve({
      jsonrpc: "2.0",
      id: entry.originalId,
      error: { code: ErrorCode.ConnectionClosed, message: reason },
    });
  }
}
