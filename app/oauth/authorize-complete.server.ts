/**
 * The Authorization Complete page, for redirect URIs a browser cannot show as a page (private-use
 * schemes such as cursor://, RFC 8252 §7.1). The consent action cannot render it directly (Remix
 * reloads the consent page's data after an action, and the request is answered by then), so the
 * action stores the response URL in a short-lived cookie, encrypted, scoped to /authorize, and sends
 * the browser to /authorize/complete. The code in it is single-use and expires with the cookie.
 */
import { createCookie } from "@remix-run/node";
import type { AppContext } from "~/context.server";
import { decryptText, encryptText } from "~/utils/crypto.server";
import type { ConsentOutcome } from "./consent.server";

export const COMPLETE_PATH = "/authorize/complete";

export type Completion = {
  location: string;
  clientName: string;
  serverName: string | null;
  denied: boolean;
};

function completionCookie(ctx: AppContext) {
  return createCookie("toolgate_authorize_complete", {
    path: "/authorize",
    httpOnly: true,
    sameSite: "lax",
    secure: ctx.config.secureCookies,
    secrets: [ctx.secrets.sessionSecret],
    maxAge: ctx.config.codeTtlSeconds,
  });
}

/** The Set-Cookie value that hands `outcome` to the Authorization Complete page. */
export async function storeCompletion(ctx: AppContext, outcome: ConsentOutcome, denied: boolean): Promise<string> {
  const completion: Completion = {
    location: outcome.location,
    clientName: outcome.clientName,
    serverName: outcome.serverName,
    denied,
  };
  return completionCookie(ctx).serialize(encryptText(ctx.secrets.dataKey, JSON.stringify(completion)));
}

/** The completion this browser was handed, or null (none, expired, or tampered with). */
export async function readCompletion(ctx: AppContext, request: Request): Promise<Completion | null> {
  const sealed: unknown = await completionCookie(ctx).parse(request.headers.get("Cookie"));
  if (typeof sealed !== "string") return null;
  try {
    const value = JSON.parse(decryptText(ctx.secrets.dataKey, sealed)) as Completion;
    return typeof value.location === "string" ? value : null;
  } catch {
    return null;
  }
}
