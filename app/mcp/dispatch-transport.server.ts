/**
 * An in-process SDK transport that lets one long-lived SDK `Server` answer requests from many
 * HTTP requests and many clients at once (docs/decisions/008-mcp-transport.md, 035).
 *
 * Each request is handed to the server under a fresh internal id (clients pick their own ids, so
 * two clients may both send id 1); the answer is matched by that id and given back under the
 * client's original id. Server-initiated messages have no stream to go to in a stateless
 * JSON-answer endpoint and are dropped.
 */
import type { AuthInfo, JSONRPCErrorResponse, JSONRPCMessage, JSONRPCRequest, JSONRPCResultResponse, MessageClassification, Transport } from "@modelcontextprotocol/server";
import { ProtocolErrorCode } from "@modelcontextprotocol/server";

export type JsonRpcAnswer = JSONRPCResultResponse | JSONRPCErrorResponse;

/**
 * An answer, and whether the SDK gave it while the request was being handed over: the SDK's
 * pre-handler gates (method not found, era mismatch, bad envelope) answer synchronously, request
 * handlers always later. The endpoint maps only the former to an HTTP status, as the SDK's own
 * per-request transport does.
 */
export type Dispatched = { answer: JsonRpcAnswer; beforeHandler: boolean };

type InFlight = { originalId: JSONRPCRequest["id"]; resolve: (dispatched: Dispatched) => void };

type MessageExtra = { authInfo?: AuthInfo; classification?: MessageClassification };
type RequestEntry = (request: JSONRPCRequest, extra: MessageExtra) => void;

/**
 * The SDK's own request entry of a connected `Protocol` (`Server`), if this SDK version has one:
 * the method its `transport.onmessage` calls once it has told a request from a response or a
 * notification. Telling them apart tries the SDK's zod schemas for responses first, and each miss
 * costs a failed parse; the endpoint has already had the SDK classify the message
 * (`classifyInboundRequest`) and knows it is a request, so only that second classification is
 * skipped; the SDK still checks the era, finds the handler, validates params and answers. `null`
 * (a later SDK without the method) falls back to `onmessage`, which is equivalent
 * (tests/integration/mcp-dispatch.test.ts compares both paths and fails if the entry disappears).
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
  private handingOver = false;
  private readonly inFlight = new Map<number, InFlight>();
  private requestEntry: RequestEntry | null = null;

  /** `classification` is what the endpoint established for every request sent through here. */
  constructor(private readonly classification: MessageClassification | undefined) {}

  /** Hands requests straight to `protocol`'s request entry (see `sdkRequestEntry`) once connected. */
  useRequestEntry(entry: RequestEntry | null): void {
    this.requestEntry = entry;
  }

  /** Whether requests skip the SDK's second message classification (tests check it stays true). */
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
    entry.resolve({ answer: { ...message, id: entry.originalId } as JsonRpcAnswer, beforeHandler: this.handingOver });
  }

  /**
   * Hands one request to the server. `cancel()` (the client went away, or sent
   * notifications/cancelled) tells the server, so the handler's signal aborts, and settles the
   * answer with an error nobody will read.
   */
  dispatch(request: JSONRPCRequest, authInfo: AuthInfo): { answer: Promise<Dispatched>; cancel: () => void } {
    const internalId = this.nextId++;
    if (this.nextId > Number.MAX_SAFE_INTEGER - 1) this.nextId = 1;
    const answer = new Promise<Dispatched>((resolve) => {
      this.inFlight.set(internalId, { originalId: request.id, resolve });
    });
    const message = { ...request, id: internalId };
    const extra: MessageExtra = this.classification ? { authInfo, classification: this.classification } : { authInfo };
    this.handingOver = true;
    try {
      if (this.requestEntry) this.requestEntry(message, extra);
      else this.onmessage?.(message, extra);
    } finally {
      this.handingOver = false;
    }
    return { answer, cancel: () => this.cancel(internalId) };
  }

  private cancel(internalId: number): void {
    const entry = this.inFlight.get(internalId);
    if (!entry) return;
    this.inFlight.delete(internalId);
    const reason = "The request was cancelled";
    this.onmessage?.({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: internalId, reason } });
    entry.resolve({
      answer: { jsonrpc: "2.0", id: entry.originalId, error: { code: ProtocolErrorCode.InternalError, message: reason } },
      beforeHandler: false,
    });
  }
}
