import { createCookie } from "@remix-run/node";
import { z } from "zod";
import type { AppContext } from "~/context.server";
import { safeReturnTo } from "../session.server";
import { ProviderSignInError } from "./errors.server";

/** How long a browser may spend at the identity provider before the attempt expires. */
export const FLOW_TTL_SECONDS = 600;

const flowSchema = z.object({
  provider: z.string(),
  state: z.string().min(32),
  codeVerifier: z.string().min(43),
  nonce: z.string().min(32).optional(),
  returnTo: z.string(),
  expiresAt: z.number(),
});

/** What binds one provider round trip to this browser (RFC 9700 §2.1: state, PKCE, nonce). */
export type Flow = z.infer<typeof flowSchema>;

/**
 * The flow cookie: signed with the session secret (so the browser cannot forge state or nonce),
 * HttpOnly, and SameSite=Lax, because the provider sends the browser back with a cross-site
 * top-level GET, which Lax cookies accompany and Strict ones do not.
 */
function flowCookie(ctx: AppContext) {
  return createCookie(ctx.config.secureCookies ? "__Host-toolgate-sso" : "toolgate-sso", {
    httpOnly: true,
    sameSite: "lax",
    secure: ctx.config.secureCookies,
    path: "/",
    maxAge: FLOW_TTL_SECONDS,
    secrets: [ctx.secrets.sessionSecret],
  });
}

export async function serializeFlow(ctx: AppContext, flow: Flow): Promise<string> {
  return flowCookie(ctx).serialize(flow);
}

export async function clearFlow(ctx: AppContext): Promise<string> {
  return flowCookie(ctx).serialize("", { maxAge: 0, expires: new Date(0) });
}

/** The returnTo of the flow, if the cookie is intact; used to keep it when a sign-in fails. */
export async function peekReturnTo(ctx: AppContext, request: Request): Promise<string> {
  const raw = await flowCookie(ctx).parse(request.headers.get("Cookie"));
  const parsed = flowSchema.safeParse(raw);
  return parsed.success ? safeReturnTo(parsed.data.returnTo) : "/";
}

/**
 * Reads the flow of this browser for `provider`. Throws when it is missing, tampered with (bad
 * signature: `parse` returns null), for another provider, or past its lifetime.
 */
export async function parseFlow(ctx: AppContext, request: Request, provider: string): Promise<Flow> {
  const raw = await flowCookie(ctx).parse(request.headers.get("Cookie"));
  const parsed = flowSchema.safeParse(raw);
  if (!parsed.success) throw new ProviderSignInError("state", "no valid flow cookie");
  const flow = parsed.data;
  if (flow.provider !== provider) throw new ProviderSignInError("state", `flow is for ${flow.provider}`);
  if (flow.expiresAt <= ctx.now()) throw new ProviderSignInError("expired", "flow cookie past its lifetime");
  return { ...flow, returnTo: safeReturnTo(flow.returnTo) };
}
