import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json, redirect } from "@remix-run/node";
import { Form, Link, useActionData, useLoaderData, useNavigation } from "@remix-run/react";
import { z } from "zod";
import { checkCsrf } from "~/auth/csrf.server";
import { deviceCookieHeader } from "~/auth/device-cookie.server";
import { createUserSession, csrfToken, getBrowserSession } from "~/auth/session.server";
import { countUsers, createUser, emailSchema, passwordSchema, SetupDoneError, UserExistsError } from "~/auth/users.server";
import { FormField } from "~/servers/components";

export const meta: MetaFunction = () => [{ title: "Create the owner account · Toolgate" }];

/** Where a first-run form that lost to another one lands: the page says the owner exists. */
const TAKEN_PATH = "/setup?taken=1";

export async function loader({ request, context }: LoaderFunctionArgs) {
  const { ctx } = context;
  if (await countUsers(ctx) > 0) {
    // After a lost race the page explains (a document POST renders through this loader too).
    if (new URL(request.url).searchParams.get("taken") === "1") return json({ csrf: null, taken: true }, { status: 409 });
    throw redirect("/sign-in");
  }
  const { sid, setCookie } = await getBrowserSession(context, request);
  return json({ csrf: csrfToken(ctx, sid, "setup"), taken: false }, { headers: setCookie ? { "Set-Cookie": setCookie } : undefined });
}

const setupSchema = z
  .object({
    email: emailSchema,
    name: z.string().trim().max(100, "Name must be at most 100 characters").optional(),
    password: passwordSchema,
    confirm: z.string(),
  })
  .refine((v) => v.password === v.confirm, { path: ["confirm"], message: "The passwords do not match" });

type Fields = "email" | "name" | "password" | "confirm";
const SETUP_DONE = "The owner account of this workspace was created a moment ago, so this one was not. Sign in instead.";

type ActionData = { formError?: string; fieldErrors?: Partial<Record<Fields, string>>; values?: { email?: string; name?: string } };

export async function action({ request, context }: ActionFunctionArgs) {
  const { ctx } = context;
  const form = await request.formData();
  if (!(await checkCsrf(ctx, request, form, "setup"))) {
    return json<ActionData>({ formError: "This form has expired. Please try again." }, { status: 403 });
  }
  // A form posted after the owner exists (another browser was quicker) is told so.
  if (await countUsers(ctx) > 0) throw redirect(TAKEN_PATH);
  const raw = Object.fromEntries(["email", "name", "password", "confirm"].map((k) => [k, String(form.get(k) ?? "")]));
  const values = { email: raw.email?.slice(0, 254), name: raw.name?.slice(0, 100) };
  const parsed = setupSchema.safeParse(raw);
  if (!parsed.success) {
    const fieldErrors: ActionData["fieldErrors"] = {};
    for (const issue of parsed.error.issues) {
      const key = issue.path[0] as Fields;
      fieldErrors[key] ??= issue.message;
    }
    return json<ActionData>({ fieldErrors, values }, { status: 400 });
  }
  let user;
  try {
    // "No account yet" is checked again in the insert's own transaction: of two first-run forms sent
    // at once, one creates the owner and the other is told so.
    user = await createUser(
      ctx,
      { email: parsed.data.email, password: parsed.data.password, name: parsed.data.name, role: "owner" },
      { onlyFirst: true },
    );
  } catch (error) {
    if (error instanceof SetupDoneError || error instanceof UserExistsError) throw redirect(TAKEN_PATH);
    throw error;
  }
  const headers = new Headers({ "Set-Cookie": await createUserSession(ctx, request, user.id) });
  // The owner's first browser is trusted for their account from the start (decision 030).
  headers.append("Set-Cookie", deviceCookieHeader(ctx, user.id));
  return redirect("/", { headers });
}

function Field(props: {
  name: Fields;
  label: string;
  type: string;
  autoComplete: string;
  error?: string;
  defaultValue?: string;
  hint?: string;
  required?: boolean;
}) {
  return (
    <FormField name={props.name} label={props.label} error={props.error} hint={props.hint}>
      {(a11y) => (
        <input
          {...a11y}
          type={props.type}
          autoComplete={props.autoComplete}
          defaultValue={props.defaultValue}
          required={props.required}
        />
      )}
    </FormField>
  );
}

export default function Setup() {
  const { csrf, taken } = useLoaderData<typeof loader>();
  const data = useActionData<typeof action>();
  const navigation = useNavigation();
  const busy = navigation.state !== "idle";
  const e = data?.fieldErrors ?? {};
  if (taken || csrf === null) {
    return (
      <section className="card narrow stack" aria-labelledby="setup-title">
        <h1 id="setup-title">Welcome to Toolgate</h1>
        <div className="alert alert--error" role="alert">
          {SETUP_DONE}
        </div>
        <p>
          <Link to="/sign-in" className="button">
            Sign in
          </Link>
        </p>
      </section>
    );
  }
  return (
    <section className="card narrow" aria-labelledby="setup-title">
      <h1 id="setup-title">Welcome to Toolgate</h1>
      <p className="muted">Create the owner account for this workspace. More accounts can be added later.</p>
      {data?.formError ? (
        <div className="alert alert--error" role="alert">
          {data.formError}
        </div>
      ) : null}
      <Form method="post" noValidate>
        <input type="hidden" name="csrf" value={csrf} />
        <Field name="email" label="Email" type="email" autoComplete="username" error={e.email} defaultValue={data?.values?.email} required />
        <Field name="name" label="Name (optional)" type="text" autoComplete="name" error={e.name} defaultValue={data?.values?.name} />
        <Field name="password" label="Password" type="password" autoComplete="new-password" error={e.password} hint="At least 10 characters." required />
        <Field name="confirm" label="Confirm password" type="password" autoComplete="new-password" error={e.confirm} required />
        <button type="submit" className="button" disabled={busy}>
          {busy ? "Creating..." : "Create owner account"}
        </button>
      </Form>
    </section>
  );
}
