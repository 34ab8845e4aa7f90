import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { useActionData } from "@remix-run/react";
import { requireCsrf } from "~/auth/csrf.server";
import { requireRequestUser } from "~/auth/session.server";
import { useRootData } from "~/root";
import { readForm, redirectWithFlash } from "~/servers/pages.server";
import { ServerForm } from "~/servers/server-form";
import { createServer, ValidationError } from "~/servers/servers.server";

export const meta: MetaFunction = () => [{ title: "New MCP server · Toolgate" }];

export async function loader({ request, context }: LoaderFunctionArgs) {
  await requireRequestUser(context, request);
  return null;
}

export async function action({ request, context }: ActionFunctionArgs) {
  const { ctx } = context;
  const user = await requireRequestUser(context, request);
  const form = await readForm(request);
  await requireCsrf(ctx, request, form);
  const values = { name: String(form.get("name") ?? "").slice(0, 500), description: String(form.get("description") ?? "").slice(0, 5000) };
  try {
    const { server, signingSecret } = await createServer(ctx, { ownerId: user.id, ...values });
    return redirectWithFlash(ctx, request, `/servers/${server.id}`, {
      toast: `Created ${server.name}. Add its first tool below.`,
      signingSecret: { userId: user.id, serverId: server.id, secret: signingSecret },
    });
  } catch (error) {
    if (error instanceof ValidationError) return json({ errors: error.fieldErrors, values }, { status: 400 });
    throw error;
  }
}

export default function NewServer() {
  const root = useRootData();
  const data = useActionData<typeof action>();
  return (
    <section aria-labelledby="new-server-title" className="narrow">
      <h1 id="new-server-title">New MCP server</h1>
      <ServerForm
        csrf={root?.csrf ?? ""}
        values={data?.values}
        errors={data?.errors}
        submitLabel="Create server"
        pendingLabel="Creating..."
        cancelTo="/"
      />
    </section>
  );
}
