/**
 * The one bounded body reader of the protocol endpoints: Node's request stream as UTF-8 text, up
 * to a cap. A declared Content-Length over the cap is refused before anything is read; otherwise
 * reading stops as soon as the cap is passed (the rest is never read, so the answer must close the
 * connection). A client that goes away mid-body is "aborted", never an exception.
 */
import type { IncomingMessage } from "node:http";
import type { BodyRead } from "./protocol.server";

export function readBody(req: IncomingMessage, maxBytes: number): Promise<BodyRead> {
  const length = req.headers["content-length"];
  if (length !== undefined && Number(length) > maxBytes) return Promise.resolve({ kind: "too_large" });
  if (req.readableEnded) return Promise.resolve({ kind: "ok", text: "" });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (read: BodyRead) => {
      if (settled) return;
      settled = true;
      req.off("data", onData).off("end", onEnd).off("error", onAbort).off("aborted", onAbort);
      resolve(read);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > maxBytes) {
        req.pause();
        return finish({ kind: "too_large" });
      }
      chunks.push(chunk);
    };
    const onEnd = () =>
      finish({ kind: "ok", text: chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8") });
    const onAbort = () => finish({ kind: "aborted" });
    req.on("data", onData).on("end", onEnd).on("error", onAbort).on("aborted", onAbort);
  });
}
