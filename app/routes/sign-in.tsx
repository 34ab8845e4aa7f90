import type { ActionFunctionArgs, HeadersFunction, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json, redirect } from "@remix-run/node";
import { Form, useActionData, useLoaderData, useNavigation, useSearchParams } from "@remix-run/react";
import { createAuthenticator, SignInError } from "~/auth/auth.server";
import { checkCsrf } from "~/auth/csrf.server";
import { deviceCookieHeader } from "~/auth/device-cookie.server";
import { createUserSession, csrfToken, getBrowserSession, safeReturnTo, getRequestUser } from "~/auth/session.server";
import { countUsers } from "~/auth/users.server";
import { providerErrorMessage } from "~/auth/providers/errors.server";
import { configuredProviders } from "~/auth/providers/registry.server";
import { describePendingRequest } from "~/oauth/authorize.server";

export const meta: MetaFunction = () => [{ title: "Sign in · Toolgate" }];

// Remix sends a page's headers from this function only: a throttled post keeps its Retry-After.
export const headers: HeadersFunction = ({ actionHeaders }) => {
  const retryAfter = actionHeaders.get("Retry-After");
  return retryAfter ? { "Retry-After": retryAfter } : new Headers();
};

export async function loader({ request, context }: LoaderFunctionArgs) {
  const { ctx } = context;
  const url = new URL(request.url);
  const returnTo = safeReturnTo(url.searchParams.get("returnTo"));
  if (await getRequestUser(context, request)) throw redirect(returnTo);
  if (await countUsers(ctx) === 0) throw redirect("/setup");
  const { sid, setCookie } = await getBrowserSession(context, request);
  return json(
    {
      csrf: csrfToken(ctx, sid, "sign-in"),
      returnTo,
      passwordSignIn: ctx.config.passwordSignIn,
      // Set by the authorization flow when a signed-out form post was refused.
      notice: url.searchParams.get("notice") === "signed-out" ? "You must be signed in to continue." : null,
      // A provider sign-in that was refused or failed (fixed messages, chosen by code).
      providerError: providerErrorMessage(url.searchParams.get("error")),
      providers: configuredProviders(ctx.config),
      // Arriving from an authorization request: say what signing in leads to.
      continueTo: await describePendingRequest(ctx, returnTo),
    },
    { headers: setCookie ? { "Set-Cookie": setCookie } : undefined },
  );
}

type ActionData = { formError?: string; fieldErrors?: { email?: string; password?: string }; email?: string };

export async function action({ request, context }: ActionFunctionArgs) {
  const { ctx } = context;
  const form = await request.clone().formData();
  const returnTo = safeReturnTo(form.get("returnTo"));
  const email = String(form.get("email") ?? "").slice(0, 254);
  if (!(await checkCsrf(ctx, request, form, "sign-in"))) {
    return json<ActionData>(
      { formError: "This sign-in form has expired. Please try again.", email },
      { status: 403 },
    );
  }
  if (!ctx.config.passwordSignIn) {
    return json<ActionData>({ formError: "Password sign-in is turned off." }, { status: 400 });
  }
  try {
    const user = await (await createAuthenticator(ctx, context.clientAddress)).authenticate("password", request);
    const headers = new Headers({ "Set-Cookie": await createUserSession(ctx, request, user.id) });
    // A fresh device cookie on every sign-in: this browser stays trusted for the account (decision 030).
    headers.append("Set-Cookie", deviceCookieHeader(ctx, user.id));
    return redirect(returnTo, { headers });
  } catch (error) {
    if (error instanceof Response) throw error;
    if (error instanceof SignInError) {
      const fieldErrors =
        error.status === 400
          ? error.message.includes("email")
            ? { email: error.message }
            : { password: error.message }
          : undefined;
      return json<ActionData>(
        { formError: fieldErrors ? undefined : error.message, fieldErrors, email },
        {
          status: error.status,
          headers: error.retryAfterSeconds ? { "Retry-After": String(error.retryAfterSeconds) } : undefined,
        },
      );
    }
    throw error;
  }
}

export default function SignIn() {
  const data = useLoaderData<typeof loader>();
  const actionData = useActionData<typeof action>();
  const navigation = useNavigation();
  const [params] = useSearchParams();
  const busy = navigation.state !== "idle" && navigation.formAction?.startsWith("/sign-in");
  const errors = actionData?.fieldErrors;
  return (
    <section className="card narrow" aria-labelledby="sign-in-title">
      <h1 id="sign-in-title">Sign in</h1>
      {data.continueTo ? (
        <p className="sign-in-context" data-testid="sign-in-context">
          Sign in to continue to Authorize Application: <strong><bdi>{data.continueTo.applicationName}</bdi></strong> wants to
          use {data.continueTo.serverName ? <strong><bdi>{data.continueTo.serverName}</bdi></strong> : "one of your MCP servers"}.
        </p>
      ) : null}
      {data.notice ? (
        <div className="alert alert--error" role="alert">
          {data.notice}
        </div>
      ) : null}
      {actionData?.formError ? (
        <div className="alert alert--error" role="alert" id="sign-in-error">
          {actionData.formError}
        </div>
      ) : null}
      {data.providerError ? (
        <div className="alert alert--error" role="alert" id="provider-error">
          {data.providerError}
        </div>
      ) : null}
      {data.providers.length > 0 ? (
        <div className="provider-buttons">
          {data.providers.map((p) => (
            // A plain form (full page navigation even with JavaScript): the answer is a redirect
            // to the identity provider's origin.
            <form key={p.id} method="post" action={`/auth/${p.id}`}>
              <input type="hidden" name="csrf" value={data.csrf} />
              <input type="hidden" name="returnTo" value={data.returnTo} />
              <button type="submit" className="button button--secondary">
                Sign in with {p.name}
              </button>
            </form>
          ))}
        </div>
      ) : null}
      {data.passwordSignIn ? (
        <Form method="post" action={`/sign-in?${params.toString()}`} noValidate>
          <input type="hidden" name="csrf" value={data.csrf} />
          <input type="hidden" name="returnTo" value={data.returnTo} />
          <div className="field">
            <label htmlFor="email">Email</label>
            <input
              id="email"
              name="email"
              type="email"
              autoComplete="username"
              required
              maxLength={254}
              defaultValue={actionData?.email}
              aria-invalid={errors?.email ? true : undefined}
              aria-describedby={errors?.email ? "email-error" : undefined}
              autoFocus
            />
            {errors?.email ? (
              <p className="field-error" id="email-error">
                {errors.email}
              </p>
            ) : null}
          </div>
          <div className="field">
            <label htmlFor="password">Password</label>
            <input
              id="password"
              name="password"
              type="password"
              autoComplete="current-password"
              required
              maxLength={256}
              aria-invalid={errors?.password ? true : undefined}
              aria-describedby={errors?.password ? "password-error" : undefined}
            />
            {errors?.password ? (
              <p className="field-error" id="password-error">
                {errors.password}
              </p>
            ) : null}
          </div>
          <button type="submit" className="button" disabled={busy}>
            {busy ? "Signing in..." : "Sign in"}
          </button>
        </Form>
      ) : null}
    </section>
  );
}
