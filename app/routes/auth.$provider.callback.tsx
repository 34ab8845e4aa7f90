import type { LoaderFunctionArgs } from "@remix-run/node";
import { redirect } from "@remix-run/node";
import { ProviderSignInError, signInErrorUrl } from "~/auth/providers/errors.server";
import { clearFlow, peekReturnTo } from "~/auth/providers/flow-cookie.server";
import { createProviderAuthenticator } from "~/auth/providers/registry.server";
import { createUserSession } from "~/auth/session.server";

/**
 * GET /auth/:provider/callback: the provider sends the browser back here. The strategy checks
 * state, PKCE and the identity; the flow cookie is single-use and cleared whatever the outcome.
 */
export async function loader({ request, params, context }: LoaderFunctionArgs) {
  const { ctx } = context;
  const provider = params.provider ?? "";
  const authenticator = createProviderAuthenticator(ctx);
  if (!/^[a-z]+$/.test(provider) || !authenticator.get(provider)) throw new Response("Not found", { status: 404 });
  const returnTo = await peekReturnTo(ctx, request);
  const headers = new Headers({ "Cache-Control": "no-store" });
  headers.append("Set-Cookie", await clearFlow(ctx));
  try {
    const user = await authenticator.authenticate(provider, request);
    // A brand-new session id, so a sid planted before the sign-in is worthless (session fixation).
    headers.append("Set-Cookie", await createUserSession(ctx, request, user.id));
    ctx.logger.info("provider sign-in", { provider, user: user.id });
    return redirect(returnTo, { headers });
  } catch (error) {
    if (error instanceof Response) throw error;
    if (!(error instanceof ProviderSignInError)) throw error;
    ctx.logger.info("provider sign-in refused", { provider, code: error.code, detail: error.detail });
    return redirect(signInErrorUrl(error.code, returnTo), { headers });
  }
}
