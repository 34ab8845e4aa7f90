import type { LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { useLoaderData } from "@remix-run/react";
import { findOwnedServer } from "~/access/connections.server";
import { loadRevokeConfirmation, REVOKE_CSRF_PURPOSE } from "~/access/revoke-action.server";
import { csrfToken, getBrowserSession, requireRequestUser } from "~/auth/session.server";
import { ConfirmPage } from "~/components/confirm-action";

export const meta: MetaFunction = () => [{ title: "Revoke access · Toolgate" }];

/** The confirmation step before Revoke access on one server's page; it posts to that page. */
export async function loader({ request, context, params }: LoaderFunctionArgs) {
  const { ctx } = context;
  const user = await requireRequestUser(context, request);
  const server = await findOwnedServer(ctx, user.id, params.serverId ?? "");
  if (!server) throw new Response("Not found", { status: 404 });
  const { sid } = await getBrowserSession(context, request);
  const confirmation = await loadRevokeConfirmation(ctx, user.id, new URL(request.url), server.id);
  return json({ ...confirmation, serverId: server.id, csrf: csrfToken(ctx, sid, REVOKE_CSRF_PURPOSE) });
}

export default function ConfirmServerRevoke() {
  const data = useLoaderData<typeof loader>();
  const back = `/servers/${data.serverId}/connections`;
  return (
    <ConfirmPage
      title={`Revoke access for ${data.applicationName}?`}
      consequence={data.consequence}
      action={back}
      fields={{ csrf: data.csrf, ...data.fields }}
      confirmLabel={data.count > 1 ? "Revoke all" : "Revoke access"}
      cancelHref={back}
    />
  );
}
