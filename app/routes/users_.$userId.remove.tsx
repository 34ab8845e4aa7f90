import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Form, Link, useLoaderData, useNavigation } from "@remix-run/react";
import { AccountError, listUsers, removeUser, requireOwner } from "~/auth/accounts.server";
import { requireCsrf } from "~/auth/csrf.server";
import { useRootData } from "~/root";
import { notFound, readForm, redirectWithFlash } from "~/servers/pages.server";

export const meta: MetaFunction = () => [{ title: "Remove user · Toolgate" }];

async function findAccount(ctx: Parameters<typeof listUsers>[0], meId: string, userId: string | undefined) {
  const account = (await listUsers(ctx)).find((u) => u.id === userId);
  // One's own account is not removed from here (it would sign the owner out mid-click).
  if (!account || account.id === meId) throw notFound();
  return account;
}

export async function loader({ request, context, params }: LoaderFunctionArgs) {
  const me = await requireOwner(context.ctx, request);
  const account = await findAccount(context.ctx, me.id, params.userId);
  return json({ account: { id: account.id, email: account.email, serverCount: account.serverCount } });
}

export async function action({ request, context, params }: ActionFunctionArgs) {
  const { ctx } = context;
  const me = await requireOwner(ctx, request);
  const account = await findAccount(ctx, me.id, params.userId);
  const form = await readForm(request);
  await requireCsrf(ctx, request, form);
  try {
    await removeUser(ctx, account.email);
  } catch (error) {
    if (error instanceof AccountError) return json({ error: error.message }, { status: 400 });
    throw error;
  }
  return redirectWithFlash(ctx, request, "/users", { toast: `Removed ${account.email}.` });
}

export default function RemoveUser() {
  const { account } = useLoaderData<typeof loader>();
  const root = useRootData();
  const navigation = useNavigation();
  const busy = navigation.state === "submitting";
  return (
    <section aria-labelledby="remove-user-title" className="card narrow">
      <h1 id="remove-user-title" className="break">
        Remove {account.email}?
      </h1>
      <p>
        Their account, their {account.serverCount === 1 ? "server" : `${account.serverCount} servers`} with all tools, and every
        application&apos;s access to those servers are deleted. This cannot be undone.
      </p>
      <Form method="post" className="row">
        <input type="hidden" name="csrf" value={root?.csrf ?? ""} />
        <button type="submit" className="button button--danger" disabled={busy}>
          {busy ? "Removing..." : "Remove user"}
        </button>
        <Link to="/users">Cancel</Link>
      </Form>
    </section>
  );
}
