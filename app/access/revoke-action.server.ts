/** The Revoke access form action, shared by the all-servers page and the per-server page. */
import { redirect } from "@remix-run/node";
import { z } from "zod";
import { requireCsrf } from "~/auth/csrf.server";
import { commitSession, getSession, requireUser } from "~/auth/session.server";
import type { AppContext } from "~/context.server";
import { revokeConnection } from "./connections.server";
import { isolatedName } from "~/utils/display-text";

export const REVOKE_CSRF_PURPOSE = "connections";

const revokeFormSchema = z.object({ grantId: z.string().min(1).max(200) });

/**
 * Parses the form, checks CSRF, revokes, and redirects back to `backTo` with a flash message
 * (post/redirect/get, so a reload does not post again). A grant that is not on one of the user's
 * servers (or not on `serverId`) answers 404 and nothing changes.
 */
export async function handleRevoke(ctx: AppContext, request: Request, backTo: string, serverId?: string) {
  const user = await requireUser(ctx, request);
  const form = await request.formData();
  await requireCsrf(ctx, request, form, REVOKE_CSRF_PURPOSE);
  const parsed = revokeFormSchema.safeParse({ grantId: form.get("grantId") });
  if (!parsed.success) throw new Response("Not found", { status: 404 });
  const result = revokeConnection(ctx, user.id, parsed.data.grantId, { serverId });
  if (!result.revoked) throw new Response("Not found", { status: 404 });
  const session = await getSession(ctx, request);
  session.flash("toast", `Access revoked for ${isolatedName(result.applicationName)}. Its tokens no longer work.`);
  return redirect(backTo, { headers: { "Set-Cookie": await commitSession(ctx, session) } });
}

/** Reads (and clears) the flash message left by handleRevoke. */
export async function readToast(ctx: AppContext, request: Request) {
  const session = await getSession(ctx, request);
  const toast = session.get("toast") ?? null;
  return { toast, setCookie: toast ? await commitSession(ctx, session) : null };
}
