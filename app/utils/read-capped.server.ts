/**
 * Reads a web stream (the body of a fetch Request or Response) up to `maxBytes`. Past the limit it
 * returns null and cancels the stream, so an oversized body is never held in memory and its
 * connection is not left half-read. A missing body (null) reads as empty. A read error (the
 * connection closed early, an abort) is thrown.
 */
export async function readCappedBytes(stream: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<Buffer | null> {
  if (!stream) return Buffer.alloc(0);
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
  return Buffer.concat(chunks);
}

/** readCappedBytes as UTF-8 text. */
export async function readCappedText(stream: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<string | null> {
  const bytes = await readCappedBytes(stream, maxBytes);
  return bytes === null ? null : bytes.toString("utf8");
}
