/**
 * Device cookies (OWASP, "Slow down online guessing attacks with device cookies"; decision 030).
 * After a successful password sign-in the browser gets a cookie naming the account and a random
 * nonce, signed with a key derived from the session secret. A sign-in attempt for that account
 * from a browser presenting it is judged on its own per-device failure count, not on the account's
 * lockout, which only untrusted attempts share: strangers failing from anywhere cannot lock out a
 * browser the owner signed in with before. The cookie proves nothing else: it signs no one in.
 */
import { createHmac } from "node:crypto";
import type { AppContext } from "~/context.server";
import { randomToken, safeEqual } from "~/utils/crypto.server";

/** Long enough to outlive the session many times over; each sign-in issues a fresh one. */
export const DEVICE_COOKIE_MAX_AGE_SECONDS = 365 * 24 * 3600;

export function deviceCookieName(ctx: AppContext): string {
  return ctx.config.secureCookies ? "__Host-toolgate-device" : "toolgate-device";
}

const keys = new WeakMap<AppContext["secrets"], Buffer>();

/** A key of its own, so that a device signature can never be replayed as another signed value. */
function deviceKey(ctx: AppContext): Buffer {
  let key = keys.get(ctx.secrets);
  if (!key) {
    key = createHmac("sha256", ctx.secrets.sessionSecret).update("toolgate device cookie v1").digest();
    keys.set(ctx.secrets, key);
  }
  return key;
}

function signature(ctx: AppContext, userId: string, nonce: string): string {
  return createHmac("sha256", deviceKey(ctx)).update(`${userId}.${nonce}`).digest("base64url");
}

export type Device = { userId: string; nonce: string };

/** The device cookie of `request`, if it carries one whose signature is ours. */
export function readDeviceCookie(ctx: AppContext, request: Request): Device | null {
  const header = request.headers.get("Cookie");
  if (!header) return null;
  const name = deviceCookieName(ctx);
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq === -1 || part.slice(0, eq).trim() !== name) continue;
    const match = /^v1\.([\w-]{1,64})\.([\w-]{16,64})\.([\w-]{43})$/.exec(part.slice(eq + 1).trim());
    if (!match) continue;
    const [, userId, nonce, sig] = match as unknown as [string, string, string, string];
    if (safeEqual(sig, signature(ctx, userId, nonce))) return { userId, nonce };
  }
  return null;
}

/** A Set-Cookie value giving this browser a new device cookie for `userId`. */
export function deviceCookieHeader(ctx: AppContext, userId: string): string {
  const nonce = randomToken(18);
  const value = `v1.${userId}.${nonce}.${signature(ctx, userId, nonce)}`;
  const attributes = [`Path=/`, `Max-Age=${DEVICE_COOKIE_MAX_AGE_SECONDS}`, "HttpOnly", "SameSite=Lax"];
  if (ctx.config.secureCookies) attributes.push("Secure");
  return `${deviceCookieName(ctx)}=${value}; ${attributes.join("; ")}`;
}
