import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Form, Link, useLoaderData, useNavigation } from "@remix-run/react";
import { requireCsrf } from "~/auth/csrf.server";
import { useRootData } from "~/root";
import { notFound, readForm, redirectWithFlash, requireOwnServer } from "~/servers/pages.server";
import { deleteServer } from "~/servers/servers.server";

export const meta: MetaFunction = () => [{ title: "Delete server · Toolgate" }];

/** The confirmation step: a page of its own, so deleting needs two deliberate clicks without JavaScript too. */
export async function loader({ request, context, params }: LoaderFunctionArgs) {
  const { server } = await requireOwnServer(context, request, params.serverId);
  return json({ server: { id: server.id, name: server.name, toolCount: server.toolCount } });
}

export async function action({ request, context, params }: ActionFunctionArgs) {
  const { ctx } = context;
  const { user, server } = await requireOwnServer(context, request, params.serverId);
  const form = await readForm(request);
  await requireCsrf(ctx, request, form);
  if (!await deleteServer(ctx, user.id, server.id)) throw notFound();
  return redirectWithFlash(ctx, request, "/", { toast: `Deleted ${server.name}.` });
}

export default function DeleteServer() {
  const { server } = useLoaderData<typeof loader>();
  const root = useRootData();
  const navigation = useNavigation();
  const busy = navigation.state === "submitting";
  return (
    <section aria-labelledby="delete-server-title" className="card narrow">
      <h1 id="delete-server-title">Delete {server.name}?</h1>
      <p>
        This removes the server, its {server.toolCount === 1 ? "tool" : `${server.toolCount} tools`} and every application&apos;s access to
        it. Connected clients stop working at once. This cannot be undone.
      </p>
      <Form method="post" className="row">
        <input type="hidden" name="csrf" value={root?.csrf ?? ""} />
        <button type="submit" className="button button--danger" disabled={busy}>
          {busy ? "Deleting..." : "Delete server"}
        </button>
        <Link to={`/servers/${server.id}`}>Cancel</Link>
      </Form>
    </section>
  );
}
