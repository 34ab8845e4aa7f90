import type { AppContext } from "~/context.server";
import { getSession, verifyCsrf } from "./session.server";

/**
 * Checks a state-changing form post: the Origin header, when the browser sends one, must be ours,
 * and the form's `csrf` field must be the token of this browser's session for `purpose`.
 * Throws a 403 Response otherwise.
 */
export async function requireCsrf(
  ctx: AppContext,
  request: Request,
  form: FormData,
  purpose = "form",
): Promise<void> {
  if (!(await checkCsrf(ctx, request, form, purpose))) {
    throw new Response("This form has expired. Reload the page and try again.", { status: 403 });
  }
}

export async function checkCsrf(ctx: AppContext, request: Request, form: FormData, purpose = "form") {
  const origin = request.headers.get("Origin");
  if (origin !== null && origin !== ctx.config.publicUrl && origin !== new URL(request.url).origin) return false;
  const session = await getSession(ctx, request);
  const tokens = form.getAll("csrf");
  if (tokens.length !== 1) return false;
  return verifyCsrf(ctx, session.get("sid"), purpose, tokens[0]);
}
