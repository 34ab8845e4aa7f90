import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Form, Link, useLoaderData, useNavigation } from "@remix-run/react";
import { requireCsrf } from "~/auth/csrf.server";
import { useRootData } from "~/root";
import { notFound, readForm, redirectWithFlash, requireOwnTool } from "~/servers/pages.server";
import { deleteTool } from "~/servers/servers.server";

export const meta: MetaFunction = () => [{ title: "Delete tool · Toolgate" }];

export async function loader({ request, context, params }: LoaderFunctionArgs) {
  const { server, tool } = await requireOwnTool(context, request, params.serverId, params.toolId);
  return json({ server: { id: server.id, name: server.name }, tool: { id: tool.id, name: tool.name } });
}

export async function action({ request, context, params }: ActionFunctionArgs) {
  const { ctx } = context;
  const { user, server, tool } = await requireOwnTool(context, request, params.serverId, params.toolId);
  const form = await readForm(request);
  await requireCsrf(ctx, request, form);
  if (!await deleteTool(ctx, user.id, server.id, tool.id)) throw notFound();
  return redirectWithFlash(ctx, request, `/servers/${server.id}`, { toast: `Deleted the tool ${tool.name}.` });
}

export default function DeleteTool() {
  const { server, tool } = useLoaderData<typeof loader>();
  const root = useRootData();
  const navigation = useNavigation();
  const busy = navigation.state === "submitting";
  return (
    <section aria-labelledby="delete-tool-title" className="card narrow">
      <h1 id="delete-tool-title">
        Delete the tool <span className="tool-name">{tool.name}</span>?
      </h1>
      <p>Applications connected to {server.name} can no longer call it. This cannot be undone.</p>
      <Form method="post" className="row">
        <input type="hidden" name="csrf" value={root?.csrf ?? ""} />
        <button type="submit" className="button button--danger" disabled={busy}>
          {busy ? "Deleting..." : "Delete tool"}
        </button>
        <Link to={`/servers/${server.id}`}>Cancel</Link>
      </Form>
    </section>
  );
}
