import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Form, Link, useActionData, useLoaderData, useNavigation } from "@remix-run/react";
import { z } from "zod";
import { listUsers, requireOwner } from "~/auth/accounts.server";
import { requireCsrf } from "~/auth/csrf.server";
import { createUser, emailSchema, passwordSchema, UserExistsError } from "~/auth/users.server";
import { useRootData } from "~/root";
import { FormError, FormField, Toast } from "~/servers/components";
import { readFlash, readForm, redirectWithFlash } from "~/servers/pages.server";

export const meta: MetaFunction = () => [{ title: "Users · Toolgate" }];

export async function loader({ request, context }: LoaderFunctionArgs) {
  const { ctx } = context;
  const me = await requireOwner(ctx, request);
  const { toast, setCookie } = await readFlash(ctx, request);
  const users = (await listUsers(ctx)).map((u) => ({ id: u.id, email: u.email, name: u.name, role: u.role, serverCount: u.serverCount }));
  return json({ users, me: me.id, toast }, { headers: setCookie ? { "Set-Cookie": setCookie } : undefined });
}

const addUserSchema = z.object({
  email: emailSchema,
  password: passwordSchema,
  role: z.enum(["member", "owner"], { error: "Choose member or owner." }),
});

export async function action({ request, context }: ActionFunctionArgs) {
  const { ctx } = context;
  await requireOwner(ctx, request);
  const form = await readForm(request);
  await requireCsrf(ctx, request, form);
  const values = { email: String(form.get("email") ?? "").slice(0, 300), role: String(form.get("role") ?? "member").slice(0, 20) };
  const parsed = addUserSchema.safeParse({ ...values, password: String(form.get("password") ?? "") });
  if (!parsed.success) {
    const errors: Record<string, string> = {};
    for (const issue of parsed.error.issues) errors[String(issue.path[0])] ??= issue.message;
    return json({ errors, values }, { status: 400 });
  }
  try {
    await createUser(ctx, parsed.data);
  } catch (error) {
    if (error instanceof UserExistsError) return json({ errors: { email: "An account with this email already exists." } as Record<string, string>, values }, { status: 400 });
    throw error;
  }
  return redirectWithFlash(ctx, request, "/users", { toast: `Added ${parsed.data.email}. Give them their initial password.` });
}

export default function Users() {
  const { users, me, toast } = useLoaderData<typeof loader>();
  const data = useActionData<typeof action>();
  const root = useRootData();
  const navigation = useNavigation();
  const busy = navigation.state === "submitting";
  const errors: Record<string, string | undefined> = data?.errors ?? {};
  return (
    <section aria-labelledby="users-title">
      <Toast message={toast} />
      <h1 id="users-title">Users</h1>
      <div className="card">
        <table>
          <caption className="visually-hidden">Accounts in this workspace</caption>
          <thead>
            <tr>
              <th scope="col">Email</th>
              <th scope="col">Role</th>
              <th scope="col">Servers</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {users.map((u) => (
              <tr key={u.id}>
                <td className="break">{u.email}</td>
                <td>{u.role}</td>
                <td>{u.serverCount}</td>
                <td>
                  {u.id === me ? (
                    <span className="muted small">you</span>
                  ) : (
                    <Link to={`/users/${u.id}/remove`}>
                      Remove<span className="visually-hidden"> {u.email}</span>
                    </Link>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h2 id="add-user-title">Add a user</h2>
      <Form method="post" noValidate className="card narrow" aria-labelledby="add-user-title">
        <FormError message={errors.form} />
        <input type="hidden" name="csrf" value={root?.csrf ?? ""} />
        <FormField name="email" label="Email" error={errors.email}>
          {(a) => <input {...a} type="email" required maxLength={254} autoComplete="off" defaultValue={data?.values.email} />}
        </FormField>
        <FormField name="password" label="Initial password" error={errors.password} hint="At least 10 characters. Share it privately.">
          {(a) => <input {...a} type="password" required maxLength={256} autoComplete="new-password" />}
        </FormField>
        <FormField name="role" label="Role" error={errors.role}>
          {(a) => (
            <select {...a} defaultValue={data?.values.role ?? "member"}>
              <option value="member">Member</option>
              <option value="owner">Owner (can manage users)</option>
            </select>
          )}
        </FormField>
        <button type="submit" className="button" disabled={busy}>
          {busy ? "Adding..." : "Add user"}
        </button>
      </Form>
    </section>
  );
}
