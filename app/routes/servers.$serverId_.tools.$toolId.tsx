import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { useActionData, useLoaderData } from "@remix-run/react";
import { requireCsrf } from "~/auth/csrf.server";
import { useRootData } from "~/root";
import { notFound, parseToolForm, readForm, redirectWithFlash, requireOwnTool, toolFormErrorsOf, toolFormValuesOf } from "~/servers/pages.server";
import { toolDefinitionOf, updateTool, ValidationError } from "~/servers/servers.server";
import { ToolForm } from "~/servers/tool-form";

export const meta: MetaFunction = () => [{ title: "Edit tool · Toolgate" }];

export async function loader({ request, context, params }: LoaderFunctionArgs) {
  const { ctx } = context;
  const { server, tool } = await requireOwnTool(context, request, params.serverId, params.toolId);
  return json(
    { server: { id: server.id, name: server.name, baseUrl: server.baseUrl }, tool: { id: tool.id, name: tool.name }, values: toolFormValuesOf(toolDefinitionOf(ctx, tool)) },
    // The form shows the tool's extra headers, which may hold credentials.
    { headers: { "Cache-Control": "no-store" } },
  );
}

export async function action({ request, context, params }: ActionFunctionArgs) {
  const { ctx } = context;
  const { user, server, tool } = await requireOwnTool(context, request, params.serverId, params.toolId);
  const form = await readForm(request);
  await requireCsrf(ctx, request, form);
  const parsed = parseToolForm(form);
  if (!parsed.ok) return json({ errors: parsed.errors, values: parsed.values }, { status: 400 });
  try {
    if (!await updateTool(ctx, user.id, server.id, tool.id, parsed.tool)) throw notFound();
  } catch (error) {
    if (error instanceof ValidationError) return json({ errors: toolFormErrorsOf(error.fieldErrors), values: parsed.values }, { status: 400 });
    throw error;
  }
  return redirectWithFlash(ctx, request, `/servers/${server.id}`, { toast: `Saved the tool ${parsed.tool.name}.` });
}

export default function EditTool() {
  const { server, tool, values } = useLoaderData<typeof loader>();
  const data = useActionData<typeof action>();
  const root = useRootData();
  return (
    <section aria-labelledby="edit-tool-title">
      <h1 id="edit-tool-title">
        Edit <span className="tool-name">{tool.name}</span> on {server.name}
      </h1>
      <ToolForm
        csrf={root?.csrf ?? ""}
        values={data?.values ?? values}
        baseUrl={server.baseUrl}
        errors={data?.errors}
        submitLabel="Save tool"
        pendingLabel="Saving..."
        cancelTo={`/servers/${server.id}`}
      />
    </section>
  );
}
