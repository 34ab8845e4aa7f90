/**
 * Security headers for every HTML page. Pages that must never be framed or cached (the consent page)
 * add their own stricter headers on top.
 */
export function pageSecurityHeaders(headers: Headers, nonce: string, https: boolean): void {
  headers.set(
    "Content-Security-Policy",
    [
      "default-src 'self'",
      `script-src 'self' 'nonce-${nonce}'`,
      "style-src 'self'",
      "img-src 'self' data:",
      "connect-src 'self'",
      "font-src 'self'",
      "object-src 'none'",
      "base-uri 'none'",
      // form-action is left unset on purpose: the consent form's POST answers with a 303 to the
      // client's redirect URI, and browsers apply form-action to that redirect too.
      "frame-ancestors 'none'",
    ].join("; "),
  );
  headers.set("X-Frame-Options", "DENY");
  headers.set("X-Content-Type-Options", "nosniff");
  if (!headers.has("Referrer-Policy")) headers.set("Referrer-Policy", "same-origin");
  // A page may relax this (the consent flow keeps `window.opener` for clients that open it as a popup).
  if (!headers.has("Cross-Origin-Opener-Policy")) headers.set("Cross-Origin-Opener-Policy", "same-origin-allow-popups");
  headers.set("Permissions-Policy", "camera=(), microphone=(), geolocation=()");
  if (https) headers.set("Strict-Transport-Security", "max-age=31536000; includeSubDomains");
}

/** Headers for JSON protocol answers that carry or concern credentials (RFC 6749 §5.1). */
export function noStore(headers: Headers): Headers {
  headers.set("Cache-Control", "no-store");
  headers.set("Pragma", "no-cache");
  return headers;
}

export function json(body: unknown, init: ResponseInit & { noStore?: boolean } = {}): Response {
  const headers = new Headers(init.headers);
  headers.set("Content-Type", "application/json");
  headers.set("X-Content-Type-Options", "nosniff");
  if (init.noStore) noStore(headers);
  return knownTextResponse(JSON.stringify(body), { status: init.status ?? 200, headers });
}

// The text of bodies built by json() or knownTextResponse(), so the Node server can write it
// directly instead of reading the Response's body stream back (app/http/node-request.server.ts).
const bodyTexts = new WeakMap<Response, string>();

/** A Response with a string body whose text the Node server writes at once (rendered pages, json()). */
export function knownTextResponse(text: string, init: ResponseInit): Response {
  const response = new Response(text, init);
  bodyTexts.set(response, text);
  return response;
}

/** The body text of a Response built by json() or knownTextResponse() whose body was not read, or undefined. */
export function knownBodyText(response: Response): string | undefined {
  return response.bodyUsed ? undefined : bodyTexts.get(response);
}
