/**
 * The body of a form posted to a page, checked once before any page action reads it (decision 029).
 * Page actions call `request.formData()`, which throws on a malformed multipart body (a 500) and
 * holds a body of any size in memory. Here the body is read up to a cap and parsed; a body that is
 * not a readable form, has too many fields or carries a file (no page takes uploads) is answered
 * with a 4xx at once, and the actions get a Request whose form is known to parse into strings.
 */
import { readCappedBytes } from "~/utils/read-capped.server";

/** The largest form a page takes: a tool with its 64 KiB schema, percent-encoded, fits with room. */
export const MAX_PAGE_FORM_BYTES = 1024 * 1024;
/** The most fields of any page form is a few dozen (the consent page: one per tool, at most 500). */
export const MAX_PAGE_FORM_FIELDS = 1000;

function refuse(status: number, message: string): Response {
  return new Response(message, {
    status,
    headers: { "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store" },
  });
}

/**
 * The one page that takes an upload: OpenAPI import (`/servers/<id>/import`, decision 044), one
 * document of at most 16 MiB (the import's own cap) in a file or a textarea.
 */
const IMPORT_PAGE = /^\/servers\/[^/]+\/import$/;
export const MAX_IMPORT_FORM_BYTES = 16 * 1024 * 1024 + 64 * 1024;

/** `request` with its form body read and checked, or the 4xx answer when it is not a usable form. */
export async function checkPageForm(request: Request): Promise<Request | Response> {
  const contentType = request.headers.get("Content-Type") ?? "";
  const declared = Number(request.headers.get("Content-Length") ?? "0");
  const upload = IMPORT_PAGE.test(new URL(request.url).pathname);
  const cap = upload ? MAX_IMPORT_FORM_BYTES : MAX_PAGE_FORM_BYTES;
  if (declared > cap) return refuse(413, upload ? "The document is larger than 16 MiB, the most Toolgate imports." : "This form is too large.");
  let bytes: Buffer | null;
  try {
    bytes = await readCappedBytes(request.body, cap);
  } catch {
    // The client went away mid-body; nobody is left to read the answer.
    return refuse(400, "The form did not arrive whole.");
  }
  if (bytes === null) return refuse(413, upload ? "The document is larger than 16 MiB, the most Toolgate imports." : "This form is too large.");
  let fields = 0;
  let files = 0;
  try {
    const form = await new Response(new Uint8Array(bytes), { headers: { "Content-Type": contentType } }).formData();
    for (const [, value] of form) {
      if (typeof value !== "string" && !(upload && ++files === 1)) return refuse(400, upload ? "Upload one document." : "This form takes no files.");
      if (++fields > MAX_PAGE_FORM_FIELDS) return refuse(413, "This form has too many fields.");
    }
  } catch {
    return refuse(400, "This form could not be read. Reload the page and try again.");
  }
  return new Request(request.url, { method: request.method, headers: request.headers, body: new Uint8Array(bytes), signal: request.signal });
}
