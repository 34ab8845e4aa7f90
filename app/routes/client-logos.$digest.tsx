import type { LoaderFunctionArgs } from "@remix-run/node";
import { findClientLogo } from "~/oauth/client-logos.server";

/**
 * A client's logo, from Toolgate's own origin. The type is the one sniffed from the bytes when they
 * were stored; nosniff and a CSP that allows nothing keep a browser from treating it as anything
 * but that image. The address is the SHA-256 of the bytes, so it can be cached forever.
 */
export async function loader({ params, context }: LoaderFunctionArgs) {
  const logo = await findClientLogo(context.ctx, params.digest ?? "");
  if (!logo) return new Response("Not found", { status: 404, headers: { "Content-Type": "text/plain; charset=utf-8" } });
  return new Response(new Uint8Array(logo.bytes), {
    headers: {
      "Content-Type": logo.contentType,
      "Content-Length": String(logo.bytes.length),
      "X-Content-Type-Options": "nosniff",
      "Content-Security-Policy": "default-src 'none'; sandbox",
      "Cache-Control": "public, max-age=31536000, immutable",
      "Cross-Origin-Resource-Policy": "same-origin",
    },
  });
}
