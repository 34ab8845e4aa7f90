import { createCookieSessionStorage, redirect, type AppLoadContext, type Session } from "@remix-run/node";
import { eq } from "drizzle-orm";
import { baseContext, type AppContext } from "~/context.server";
import { hmacSha256Hex, randomToken, safeEqual, sha256Hex } from "~/utils/crypto.server";

export type SessionData = {
  /** Random per-browser id; CSRF tokens derive from it. Replaced at sign-in and sign-out. */
  sid: string;
  /** Present when signed in; the sessions row (keyed by the hash of `sid`) must also exist. */
  userId?: string;
};
/**
 * One-time messages. `signingSecretRef` refers to a signing secret stored server-side to be shown
 * once after creation or rotation (app/auth/shown-once.server.ts); the secret is never in the cookie.
 */
export type FlashData = { toast: string; signingSecretRef: string };

export type SessionUser = { id: string; email: string; name: string | null; role: "owner" | "member" };

const storages = new WeakMap<AppContext, ReturnType<typeof createStorage>>();

function createStorage(ctx: AppContext) {
  return createCookieSessionStorage<SessionData, FlashData>({
    cookie: {
      name: ctx.config.secureCookies ? "__Host-toolgate" : "toolgate",
      httpOnly: true,
      sameSite: "lax",
      secure: ctx.config.secureCookies,
      path: "/",
      secrets: [ctx.secrets.sessionSecret],
      maxAge: ctx.config.sessionTtlSeconds,
    },
  });
}

export function sessionStorage(ctx: AppContext) {
  const base = baseContext(ctx);
  let s = storages.get(base);
  if (!s) {
    s = createStorage(base);
    storages.set(base, s);
  }
  return s;
}

export async function getSession(ctx: AppContext, request: Request) {
  return sessionStorage(ctx).getSession(request.headers.get("Cookie"));
}

export async function commitSession(ctx: AppContext, session: Session<SessionData, FlashData>) {
  return sessionStorage(ctx).commitSession(session);
}

type BrowserSession = { session: Session<SessionData, FlashData>; sid: string; setCookie: string | null };
const browserSessions = new WeakMap<object, Promise<BrowserSession>>();

/**
 * Returns the browser's session, giving it a `sid` when it has none. `setCookie` is the header
 * value to send when the session changed (null otherwise). Memoised per request (keyed by the load
 * context, which every loader of one request shares) so parallel loaders agree on one new sid.
 */
export async function getBrowserSession(context: AppLoadContext, request: Request): Promise<BrowserSession> {
  let pending = browserSessions.get(context);
  if (!pending) {
    pending = (async () => {
      const session = await getSession(context.ctx, request);
      let setCookie: string | null = null;
      if (!session.get("sid")) {
        session.set("sid", randomToken(24));
        setCookie = await commitSession(context.ctx, session);
      }
      return { session, sid: session.get("sid")!, setCookie };
    })();
    browserSessions.set(context, pending);
  }
  return pending;
}

/** The signed-in user, or null (no cookie, unknown or expired session row, deleted user). */
export async function getUser(ctx: AppContext, request: Request): Promise<SessionUser | null> {
  const session = await getSession(ctx, request);
  const sid = session.get("sid");
  const userId = session.get("userId");
  if (!sid || !userId) return null;
  const row = await ctx.store.hot.sessionUser(ctx.db, sha256Hex(sid), userId, ctx.now());
  return row ?? null;
}

const requestUsers = new WeakMap<object, { cookie: string | null; user: Promise<SessionUser | null> }>();

/**
 * getUser, once per page load: the root loader and the route's loader share the answer (keyed by
 * the load context, which every loader of one request shares; Remix hands each loader its own
 * Request object). Only GET/HEAD calls share it: those are loaders, which run after any action of
 * the same request, so an action that signs in or out is never answered from before it ran.
 */
export function getRequestUser(context: AppLoadContext, request: Request): Promise<SessionUser | null> {
  if (request.method !== "GET" && request.method !== "HEAD") return getUser(context.ctx, request);
  const cookie = request.headers.get("Cookie");
  const memo = requestUsers.get(context);
  if (memo && memo.cookie === cookie) return memo.user;
  const user = getUser(context.ctx, request);
  requestUsers.set(context, { cookie, user });
  return user;
}

/** requireUser, sharing getRequestUser's answer. */
export async function requireRequestUser(context: AppLoadContext, request: Request): Promise<SessionUser> {
  const user = await getRequestUser(context, request);
  if (user) return user;
  throw signInRedirect(request);
}

function signInRedirect(request: Request): Response {
  const url = new URL(request.url);
  const returnTo = url.pathname + url.search;
  return redirect(`/sign-in?returnTo=${encodeURIComponent(returnTo)}`);
}

/** The signed-in user, or a redirect to the sign-in page that comes back to this URL. */
export async function requireUser(ctx: AppContext, request: Request): Promise<SessionUser> {
  const user = await getUser(ctx, request);
  if (user) return user;
  throw signInRedirect(request);
}

/**
 * Signs a user in on this browser: a brand-new sid (the old one, which an attacker may have planted,
 * is discarded: session fixation) and a server-side row. Returns the Set-Cookie value.
 */
export async function createUserSession(ctx: AppContext, request: Request, userId: string): Promise<string> {
  const { sessions } = ctx.store.tables;
  const old = await getSession(ctx, request);
  const oldSid = old.get("sid");
  if (oldSid) await ctx.db.delete(sessions).where(eq(sessions.id, sha256Hex(oldSid)));
  const session = await sessionStorage(ctx).getSession();
  const sid = randomToken(24);
  const now = ctx.now();
  await ctx.db
    .insert(sessions)
    .values({ id: sha256Hex(sid), userId, createdAt: now, expiresAt: now + ctx.config.sessionTtlSeconds * 1000 });
  session.set("sid", sid);
  session.set("userId", userId);
  return commitSession(ctx, session);
}

/** Ends the session row and gives the browser a fresh anonymous session. */
export async function destroyUserSession(ctx: AppContext, request: Request): Promise<string> {
  const { sessions } = ctx.store.tables;
  const old = await getSession(ctx, request);
  const sid = old.get("sid");
  if (sid) await ctx.db.delete(sessions).where(eq(sessions.id, sha256Hex(sid)));
  const fresh = await sessionStorage(ctx).getSession();
  fresh.set("sid", randomToken(24));
  return commitSession(ctx, fresh);
}

/** CSRF token for a form: bound to the browser session and to a purpose (e.g. an authorization request id). */
export function csrfToken(ctx: AppContext, sid: string, purpose = "form"): string {
  return hmacSha256Hex(ctx.secrets.sessionSecret, `csrf\0${sid}\0${purpose}`);
}

export function verifyCsrf(ctx: AppContext, sid: string | undefined, purpose: string, token: unknown): boolean {
  if (!sid || typeof token !== "string" || token.length === 0) return false;
  return safeEqual(csrfToken(ctx, sid, purpose), token);
}

/**
 * Accepts only same-origin relative paths: "/x", not "//evil", "/\\evil", "https://evil" or
 * anything with control characters. Returns the fallback otherwise.
 */
export function safeReturnTo(value: unknown, fallback = "/"): string {
  if (typeof value !== "string" || value.length === 0 || value.length > 2048) return fallback;
  if (!value.startsWith("/") || value.startsWith("//") || value.startsWith("/\\")) return fallback;
  if (/[\u0000-\u001f\u007f\\]/.test(value)) return fallback;
  try {
    const base = new URL("http://toolgate.invalid");
    const resolved = new URL(value, base);
    if (resolved.origin !== base.origin) return fallback;
    const local = resolved.pathname + resolved.search + resolved.hash;
    // Dot segments can collapse into a protocol-relative path ("/.//evil.example" -> "//evil.example"),
    // which a browser would follow to another host.
    if (local.startsWith("//") || local.startsWith("/\\")) return fallback;
    return local;
  } catch {
    return fallback;
  }
}
