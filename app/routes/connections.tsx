import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { useLoaderData } from "@remix-run/react";
import { ConnectionList, ConnectionSearch } from "~/access/connection-list";
import { connectionGroupsView } from "~/access/connections.server";
import { handleRevoke, readToast, REVOKE_CSRF_PURPOSE } from "~/access/revoke-action.server";
import { csrfToken, getBrowserSession, requireRequestUser } from "~/auth/session.server";
import { MessageText } from "~/components/client-text";

export const meta: MetaFunction = () => [{ title: "Connected applications · Toolgate" }];

export async function loader({ request, context }: LoaderFunctionArgs) {
  const { ctx } = context;
  const user = await requireRequestUser(context, request);
  const { sid } = await getBrowserSession(context, request);
  const { toast, setCookie } = await readToast(ctx, request);
  const search = (new URL(request.url).searchParams.get("q") ?? "").slice(0, 200);
  return json(
    { groups: await connectionGroupsView(ctx, user.id, { search }), search, csrf: csrfToken(ctx, sid, REVOKE_CSRF_PURPOSE), toast },
    { headers: setCookie ? { "Set-Cookie": setCookie } : undefined },
  );
}

export async function action({ request, context }: ActionFunctionArgs) {
  return handleRevoke(context.ctx, request, "/connections");
}

export default function Connections() {
  const { groups, search, csrf, toast } = useLoaderData<typeof loader>();
  return (
    <section aria-labelledby="connections-title">
      <h1 id="connections-title">Connected applications</h1>
      <p className="muted">
        Every application that can reach the tools of your MCP servers. Revoking access ends its tokens at once;
        the application has to ask you again.
      </p>
      {toast ? (
        <p className="alert alert--ok" role="status">
          <MessageText>{toast}</MessageText>
        </p>
      ) : null}
      <ConnectionSearch search={search} basePath="/connections" />
      <ConnectionList groups={groups} csrf={csrf} showServer basePath="/connections" search={search} />
    </section>
  );
}
