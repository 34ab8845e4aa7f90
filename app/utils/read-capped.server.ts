/**
 * Reads a web stream (the body of a fetch Request or Response) as UTF-8 text, up to `maxBytes`.
 * Past the limit it returns null and cancels the stream, so an oversized body is never held in
 * memory and its connection is not left half-read. A missing body (null) reads as "". A read
 * error (the connection closed early, an abort) is thrown.
 */
export async function readCappedText(stream: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<string | null> {
  if (!stream) return "";
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}
