import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { useActionData, useLoaderData } from "@remix-run/react";
import { requireCsrf } from "~/auth/csrf.server";
import { useRootData } from "~/root";
import { notFound, parseToolForm, readForm, redirectWithFlash, requireOwnServer, toolFormErrorsOf } from "~/servers/pages.server";
import { addTool, ValidationError } from "~/servers/servers.server";
import { emptyToolFormValues, NEW_TOOL_SCHEMA, ToolForm } from "~/servers/tool-form";

export const meta: MetaFunction = () => [{ title: "Add a tool · Toolgate" }];

export async function loader({ request, context, params }: LoaderFunctionArgs) {
  const { server } = await requireOwnServer(context, request, params.serverId);
  return json({ server: { id: server.id, name: server.name, baseUrl: server.baseUrl } });
}

export async function action({ request, context, params }: ActionFunctionArgs) {
  const { ctx } = context;
  const { user, server } = await requireOwnServer(context, request, params.serverId);
  const form = await readForm(request);
  await requireCsrf(ctx, request, form);
  const parsed = parseToolForm(form);
  if (!parsed.ok) return json({ errors: parsed.errors, values: parsed.values }, { status: 400 });
  try {
    if (!await addTool(ctx, user.id, server.id, parsed.tool)) throw notFound();
  } catch (error) {
    if (error instanceof ValidationError) return json({ errors: toolFormErrorsOf(error.fieldErrors), values: parsed.values }, { status: 400 });
    throw error;
  }
  return redirectWithFlash(ctx, request, `/servers/${server.id}`, { toast: `Added the tool ${parsed.tool.name}.` });
}

export default function NewTool() {
  const { server } = useLoaderData<typeof loader>();
  const data = useActionData<typeof action>();
  const root = useRootData();
  return (
    <section aria-labelledby="new-tool-title">
      <h1 id="new-tool-title">Add a tool to {server.name}</h1>
      <ToolForm
        csrf={root?.csrf ?? ""}
        values={data?.values ?? emptyToolFormValues(NEW_TOOL_SCHEMA)}
        baseUrl={server.baseUrl}
        errors={data?.errors}
        submitLabel="Add tool"
        pendingLabel="Adding..."
        cancelTo={`/servers/${server.id}`}
      />
    </section>
  );
}
