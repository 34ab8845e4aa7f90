import type { LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { useLoaderData } from "@remix-run/react";
import { loadRevokeConfirmation, REVOKE_CSRF_PURPOSE } from "~/access/revoke-action.server";
import { csrfToken, getBrowserSession, requireRequestUser } from "~/auth/session.server";
import { ConfirmPage } from "~/components/confirm-action";

export const meta: MetaFunction = () => [{ title: "Revoke access · Toolgate" }];

/** The confirmation step before Revoke access without JavaScript; it posts to /connections. */
export async function loader({ request, context }: LoaderFunctionArgs) {
  const { ctx } = context;
  const user = await requireRequestUser(context, request);
  const { sid } = await getBrowserSession(context, request);
  const confirmation = await loadRevokeConfirmation(ctx, user.id, new URL(request.url));
  return json({ ...confirmation, csrf: csrfToken(ctx, sid, REVOKE_CSRF_PURPOSE) });
}

export default function ConfirmRevoke() {
  const data = useLoaderData<typeof loader>();
  return (
    <ConfirmPage
      title={`Revoke access for ${data.applicationName}?`}
      consequence={data.consequence}
      action="/connections"
      fields={{ csrf: data.csrf, ...data.fields }}
      confirmLabel={data.count > 1 ? "Revoke all" : "Revoke access"}
      cancelHref="/connections"
    />
  );
}
