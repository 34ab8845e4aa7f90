import type { ActionFunctionArgs } from "@remix-run/node";
import { redirect } from "@remix-run/node";
import { requireCsrf } from "~/auth/csrf.server";
import { destroyUserSession } from "~/auth/session.server";

export async function loader() {
  return redirect("/");
}

export async function action({ request, context }: ActionFunctionArgs) {
  const { ctx } = context;
  const form = await request.formData();
  await requireCsrf(ctx, request, form);
  const cookie = await destroyUserSession(ctx, request);
  return redirect("/sign-in", { headers: { "Set-Cookie": cookie } });
}
