/**
 * Revoke access: the form action (shared by the all-servers page and the per-server page) and the
 * confirmation page that comes before it without JavaScript. With JavaScript the same confirmation
 * is a dialog on the list page; either way the form that revokes is posted only after the person
 * read what it does (docs/decisions/040-confirm-what-cannot-be-undone.md).
 */
import { redirect } from "@remix-run/node";
import { z } from "zod";
import { requireCsrf } from "~/auth/csrf.server";
import { commitSession, getSession, requireUser } from "~/auth/session.server";
import type { AppContext } from "~/context.server";
import { findRevokeTargets, revokeConnections, revokeConsequence, type RevokeTarget } from "./connections.server";
import { isolatedName } from "~/utils/display-text";

export const REVOKE_CSRF_PURPOSE = "connections";

const targetSchema = z.union([
  z.object({ grantId: z.string().min(1).max(200) }),
  z.object({ applicationKey: z.string().regex(/^[\w-]{1,64}$/) }),
]);

/** A revoke target from a form or a query string: `grantId` (one authorization) or `app` (all of one application). */
export function parseRevokeTarget(get: (name: string) => unknown): RevokeTarget | null {
  const grantId = get("grantId");
  const app = get("app");
  const parsed = targetSchema.safeParse(typeof grantId === "string" && grantId ? { grantId } : { applicationKey: app });
  return parsed.success ? parsed.data : null;
}

/**
 * Parses the form, checks CSRF, revokes, and redirects back to `backTo` with a flash message
 * (post/redirect/get, so a reload does not post again). A target that is not on one of the user's
 * servers (or not on `serverId`) answers 404 and nothing changes.
 */
export async function handleRevoke(ctx: AppContext, request: Request, backTo: string, serverId?: string) {
  const user = await requireUser(ctx, request);
  const form = await request.formData();
  await requireCsrf(ctx, request, form, REVOKE_CSRF_PURPOSE);
  const target = parseRevokeTarget((name) => form.get(name));
  if (!target) throw new Response("Not found", { status: 404 });
  const grantIds = (await findRevokeTargets(ctx, user.id, target, { serverId })).map((c) => c.grantId);
  const result = await revokeConnections(ctx, user.id, grantIds, { serverId });
  if (!result.revoked) throw new Response("Not found", { status: 404 });
  const session = await getSession(ctx, request);
  session.flash(
    "toast",
    result.count > 1
      ? `Access revoked for ${isolatedName(result.applicationName)} (${result.count} authorizations). Its tokens no longer work.`
      : `Access revoked for ${isolatedName(result.applicationName)}. Its tokens no longer work.`,
  );
  return redirect(backTo, { headers: { "Set-Cookie": await commitSession(ctx, session) } });
}

export type RevokeConfirmation = {
  applicationName: string;
  consequence: string;
  /** The hidden fields the confirming form posts. */
  fields: Record<string, string>;
  count: number;
};

/** What the confirmation page shows for the target in the query string; 404 when it names nothing of the user's. */
export async function loadRevokeConfirmation(ctx: AppContext, userId: string, url: URL, serverId?: string): Promise<RevokeConfirmation> {
  const target = parseRevokeTarget((name) => url.searchParams.get(name));
  const entries = target ? await findRevokeTargets(ctx, userId, target, { serverId }) : [];
  if (!target || entries.length === 0) throw new Response("Not found", { status: 404 });
  const applicationName = entries[0]!.applicationName;
  return {
    applicationName,
    consequence: revokeConsequence(applicationName, entries),
    fields: "grantId" in target ? { grantId: target.grantId } : { app: target.applicationKey },
    count: entries.length,
  };
}

/** Reads (and clears) the flash message left by handleRevoke. */
export async function readToast(ctx: AppContext, request: Request) {
  const session = await getSession(ctx, request);
  const toast = session.get("toast") ?? null;
  return { toast, setCookie: toast ? await commitSession(ctx, session) : null };
}
