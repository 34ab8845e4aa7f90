import type { ActionFunctionArgs } from "@remix-run/node";
import { redirect } from "@remix-run/node";
import { checkCsrf } from "~/auth/csrf.server";
import { ProviderSignInError, signInErrorUrl } from "~/auth/providers/errors.server";
import { providerStrategy } from "~/auth/providers/registry.server";
import { safeReturnTo } from "~/auth/session.server";

/**
 * A GET never starts a provider sign-in: another site could otherwise sign a visitor in to an
 * account of the attacker's choosing (login CSRF). The sign-in page's button posts instead.
 */
export async function loader() {
  return redirect("/sign-in");
}

/** POST /auth/:provider (the "Sign in with ..." button): CSRF-checked start of the flow. */
export async function action({ request, params, context }: ActionFunctionArgs) {
  const { ctx } = context;
  const strategy = providerStrategy(ctx, params.provider);
  if (!strategy) throw new Response("Not found", { status: 404 });
  const form = await request.formData();
  const returnTo = safeReturnTo(form.get("returnTo"));
  if (!(await checkCsrf(ctx, request, form, "sign-in"))) return redirect(signInErrorUrl("form", returnTo));
  try {
    return await strategy.authorizationRedirect(returnTo);
  } catch (error) {
    if (!(error instanceof ProviderSignInError)) throw error;
    ctx.logger.warn("provider sign-in could not start", { provider: strategy.name, detail: error.detail });
    return redirect(signInErrorUrl(error.code, returnTo));
  }
}
