import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Link, useLoaderData } from "@remix-run/react";
import { ConnectionList, ConnectionSearch } from "~/access/connection-list";
import { connectionGroupsView, findOwnedServer } from "~/access/connections.server";
import { handleRevoke, readToast, REVOKE_CSRF_PURPOSE } from "~/access/revoke-action.server";
import { csrfToken, getBrowserSession, requireRequestUser } from "~/auth/session.server";
import { MessageText } from "~/components/client-text";

export const meta: MetaFunction<typeof loader> = ({ data }) => [
  { title: data ? `Connected applications · ${data.server.name} · Toolgate` : "Toolgate" },
];

export async function loader({ request, context, params }: LoaderFunctionArgs) {
  const { ctx } = context;
  const user = await requireRequestUser(context, request);
  const server = await findOwnedServer(ctx, user.id, params.serverId ?? "");
  if (!server) throw new Response("Not found", { status: 404 });
  const { sid } = await getBrowserSession(context, request);
  const { toast, setCookie } = await readToast(ctx, request);
  const search = (new URL(request.url).searchParams.get("q") ?? "").slice(0, 200);
  return json(
    {
      server,
      groups: await connectionGroupsView(ctx, user.id, { serverId: server.id, search }),
      search,
      csrf: csrfToken(ctx, sid, REVOKE_CSRF_PURPOSE),
      toast,
    },
    { headers: setCookie ? { "Set-Cookie": setCookie } : undefined },
  );
}

export async function action({ request, context, params }: ActionFunctionArgs) {
  const serverId = params.serverId ?? "";
  return handleRevoke(context.ctx, request, `/servers/${encodeURIComponent(serverId)}/connections`, serverId);
}

export default function ServerConnections() {
  const { server, groups, search, csrf, toast } = useLoaderData<typeof loader>();
  const basePath = `/servers/${server.id}/connections`;
  return (
    <section aria-labelledby="connections-title">
      <p className="small">
        <Link to={`/servers/${server.id}`}>← {server.name}</Link>
      </p>
      <div className="spread">
        <h1 id="connections-title">Connected applications</h1>
        <Link to={`/servers/${server.id}/activity`}>Activity</Link>
      </div>
      <p className="muted">
        Applications that can call the tools of <strong>{server.name}</strong>.
      </p>
      {toast ? (
        <p className="alert alert--ok" role="status">
          <MessageText>{toast}</MessageText>
        </p>
      ) : null}
      <ConnectionSearch search={search} basePath={basePath} />
      <ConnectionList groups={groups} csrf={csrf} showServer={false} basePath={basePath} search={search} />
    </section>
  );
}
