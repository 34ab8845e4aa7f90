import type { LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json, redirect } from "@remix-run/node";
import { Link, useLoaderData } from "@remix-run/react";
import { eq } from "drizzle-orm";
import { getUser } from "~/auth/session.server";
import { countUsers } from "~/auth/users.server";
import { mcpServers } from "~/db/schema";

export const meta: MetaFunction = () => [{ title: "Your MCP servers · Toolgate" }];

export async function loader({ request, context }: LoaderFunctionArgs) {
  const { ctx } = context;
  const user = await getUser(ctx, request);
  if (!user) throw redirect(countUsers(ctx) === 0 ? "/setup" : "/sign-in");
  const servers = ctx.db
    .select({ id: mcpServers.id, name: mcpServers.name, description: mcpServers.description })
    .from(mcpServers)
    .where(eq(mcpServers.ownerId, user.id))
    .all();
  return json({ servers });
}

export default function Index() {
  const { servers } = useLoaderData<typeof loader>();
  return (
    <section aria-labelledby="servers-title">
      <div className="spread">
        <h1 id="servers-title">Your MCP servers</h1>
      </div>
      <ul className="list card">
        {servers.length === 0 ? <li className="muted">No servers yet.</li> : null}
        {servers.map((s) => (
          <li key={s.id}>
            <Link to={`/servers/${s.id}`}>{s.name}</Link>
          </li>
        ))}
      </ul>
    </section>
  );
}
