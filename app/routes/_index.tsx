import type { LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json, redirect } from "@remix-run/node";
import { Link, useLoaderData } from "@remix-run/react";
import { getRequestUser } from "~/auth/session.server";
import { countUsers } from "~/auth/users.server";
import { Toast } from "~/servers/components";
import { readFlash } from "~/servers/pages.server";
import { listServers } from "~/servers/servers.server";

export const meta: MetaFunction = () => [{ title: "Your MCP servers · Toolgate" }];

export async function loader({ request, context }: LoaderFunctionArgs) {
  const { ctx } = context;
  const user = await getRequestUser(context, request);
  if (!user) throw redirect(await countUsers(ctx) === 0 ? "/setup" : "/sign-in");
  const { toast, setCookie } = await readFlash(ctx, request);
  const servers = (await listServers(ctx, user.id)).map((s) => ({
    id: s.id,
    name: s.name,
    description: s.description,
    toolCount: s.toolCount,
  }));
  return json(
    { servers, toast, isOwner: user.role === "owner" },
    { headers: setCookie ? { "Set-Cookie": setCookie } : undefined },
  );
}

export default function Index() {
  const { servers, toast, isOwner } = useLoaderData<typeof loader>();
  return (
    <section aria-labelledby="servers-title">
      <Toast message={toast} />
      <div className="spread">
        <h1 id="servers-title">Your MCP servers</h1>
        <div className="row">
          {isOwner ? (
            <Link to="/users" className="button button--secondary">
              Users
            </Link>
          ) : null}
          <Link to="/servers/new" className="button">
            New server
          </Link>
        </div>
      </div>
      {servers.length === 0 ? (
        <div className="card">
          <p>You have no MCP servers yet.</p>
          <p className="muted">
            An MCP server is a named set of tools. AI clients such as Claude Desktop, Claude Code and Cursor connect to
            it with its MCP URL, after you approve them.
          </p>
          <Link to="/servers/new" className="button">
            Create your first server
          </Link>
        </div>
      ) : (
        <ul className="list card" aria-label="Servers">
          {servers.map((s) => (
            <li key={s.id}>
              <div className="spread">
                <Link to={`/servers/${s.id}`} className="server-link">
                  {s.name}
                </Link>
                <span className="muted small">{s.toolCount === 1 ? "1 tool" : `${s.toolCount} tools`}</span>
              </div>
              {s.description ? <p className="muted small">{s.description}</p> : null}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
