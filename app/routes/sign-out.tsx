import type { ActionFunctionArgs } from "@remix-run/node";
import { redirect } from "@remix-run/node";
import { requireCsrf } from "~/auth/csrf.server";
import { destroyUserSession, safeReturnTo } from "~/auth/session.server";

export async function loader() {
  return redirect("/");
}

export async function action({ request, context }: ActionFunctionArgs) {
  const { ctx } = context;
  const form = await request.formData();
  await requireCsrf(ctx, request, form);
  const cookie = await destroyUserSession(ctx, request);
  // "Use another account" on the Authorize Application page comes back to the same request.
  const returnTo = safeReturnTo(form.get("returnTo"), "");
  const target = returnTo ? `/sign-in?returnTo=${encodeURIComponent(returnTo)}` : "/sign-in";
  return redirect(target, { headers: { "Set-Cookie": cookie } });
}
