import type { LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { useLoaderData } from "@remix-run/react";
import { csrfToken, getBrowserSession } from "~/auth/session.server";
import { ConfirmPage } from "~/components/confirm-action";
import { requireOwnServer } from "~/servers/pages.server";
import { rotateSecretConsequence } from "~/servers/components";

export const meta: MetaFunction = () => [{ title: "Rotate signing secret · Toolgate" }];

/** The confirmation step before Rotate signing secret without JavaScript; it posts to the server page. */
export async function loader({ request, context, params }: LoaderFunctionArgs) {
  const { server } = await requireOwnServer(context, request, params.serverId);
  const { sid } = await getBrowserSession(context, request);
  return json({ server: { id: server.id, name: server.name, toolCount: server.toolCount }, csrf: csrfToken(context.ctx, sid) });
}

export default function ConfirmRotate() {
  const { server, csrf } = useLoaderData<typeof loader>();
  return (
    <ConfirmPage
      title={`Rotate the signing secret of ${server.name}?`}
      consequence={rotateSecretConsequence(server.name, server.toolCount)}
      action={`/servers/${server.id}`}
      fields={{ csrf, intent: "rotate-secret" }}
      confirmLabel="Rotate signing secret"
      cancelHref={`/servers/${server.id}`}
    />
  );
}
