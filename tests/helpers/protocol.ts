/**
 * Calls a protocol endpoint in-process: the same route table and handler the server runs, given a
 * fetch Request and answering a fetch Response (no socket in between).
 */
import type { AppContext } from "~/context.server";
import type { BodyRead, ProtocolRequest } from "~/http/protocol.server";
import { matchProtocolRoute } from "~/http/routes.server";

export async function callProtocol(ctx: AppContext, request: Request, clientAddress = "127.0.0.1"): Promise<Response> {
  const url = new URL(request.url);
  const found = matchProtocolRoute(url.pathname);
  if (!found) throw new Error(`no protocol route for ${url.pathname}`);
  let read: Promise<BodyRead> | undefined;
  const protocolRequest: ProtocolRequest = {
    method: request.method,
    pathname: url.pathname,
    clientAddress,
    requestId: "test",
    header: (name) => request.headers.get(name),
    readBody(maxBytes) {
      read ??= request.arrayBuffer().then(
        (bytes): BodyRead => (bytes.byteLength > maxBytes ? { kind: "too_large" } : { kind: "ok", text: Buffer.from(bytes).toString("utf8") }),
        (): BodyRead => ({ kind: "aborted" }),
      );
      return read;
    },
    onAbort: (cancel) => request.signal.addEventListener("abort", cancel, { once: true }),
  };
  let answer;
  try {
    answer = await found.route.handler(protocolRequest, ctx, found.match);
  } catch (error) {
    answer = found.route.crash(error, ctx);
  }
  const headers = new Headers();
  for (const [name, value] of Object.entries(answer.headers)) for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  return new Response(answer.body, { status: answer.status, headers });
}
