import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { useActionData, useLoaderData } from "@remix-run/react";
import { requireCsrf } from "~/auth/csrf.server";
import { useRootData } from "~/root";
import { notFound, readForm, redirectWithFlash, requireOwnServer } from "~/servers/pages.server";
import { ServerForm } from "~/servers/server-form";
import { updateServer, ValidationError } from "~/servers/servers.server";

export const meta: MetaFunction = () => [{ title: "Edit server · Toolgate" }];

export async function loader({ request, context, params }: LoaderFunctionArgs) {
  const { server } = await requireOwnServer(context, request, params.serverId);
  return json({ server: { id: server.id, name: server.name, description: server.description } });
}

export async function action({ request, context, params }: ActionFunctionArgs) {
  const { ctx } = context;
  const { user, server } = await requireOwnServer(context, request, params.serverId);
  const form = await readForm(request);
  await requireCsrf(ctx, request, form);
  const values = { name: String(form.get("name") ?? "").slice(0, 500), description: String(form.get("description") ?? "").slice(0, 5000) };
  try {
    if (!await updateServer(ctx, user.id, server.id, values)) throw notFound();
  } catch (error) {
    if (error instanceof ValidationError) return json({ errors: error.fieldErrors, values }, { status: 400 });
    throw error;
  }
  return redirectWithFlash(ctx, request, `/servers/${server.id}`, { toast: "Saved." });
}

export default function EditServer() {
  const { server } = useLoaderData<typeof loader>();
  const data = useActionData<typeof action>();
  const root = useRootData();
  return (
    <section aria-labelledby="edit-server-title" className="narrow">
      <h1 id="edit-server-title">Edit {server.name}</h1>
      <ServerForm
        csrf={root?.csrf ?? ""}
        values={data?.values ?? server}
        errors={data?.errors}
        submitLabel="Save"
        pendingLabel="Saving..."
        cancelTo={`/servers/${server.id}`}
      />
    </section>
  );
}
