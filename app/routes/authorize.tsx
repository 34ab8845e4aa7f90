import type { ActionFunctionArgs, HeadersFunction, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json, redirect } from "@remix-run/node";
import {
  Form,
  isRouteErrorResponse,
  Link,
  useActionData,
  useLoaderData,
  useNavigation,
  useRouteError,
  useSubmit,
} from "@remix-run/react";
import { checkCsrf } from "~/auth/csrf.server";
import { ClientText } from "~/components/client-text";
import { csrfToken, getBrowserSession, getUser, requireRequestUser } from "~/auth/session.server";
import { useRootData } from "~/root";
import { COMPLETE_PATH, storeCompletion } from "~/oauth/authorize-complete.server";
import {
  AuthorizePageError,
  consentPath,
  loadPendingRequest,
  MESSAGES,
  startAuthorization,
} from "~/oauth/authorize.server";
import {
  approveAuthorization,
  ConsentFormError,
  denyAuthorization,
  loadConsent,
  type ClientPresentation,
} from "~/oauth/consent.server";

// The page is never cached and never sends its URL to another site. Referrer-Policy is same-origin,
// not no-referrer: under no-referrer browsers send `Origin: null` with the consent form's POST, which
// Remix's document-request guard and our Origin check must refuse (docs/decisions/005-consent-csrf.md).
// Redirects (the first URL carries state) use no-referrer. frame-ancestors 'none' and
// X-Frame-Options: DENY come with every page (app/http/headers.server.ts).
// COOP unsafe-none: a client that opens the flow in a popup keeps its window.opener, so the
// Authorization Complete page can offer Close Tab (docs/decisions/005-consent-csrf.md).
const CONSENT_HEADERS = {
  "Cache-Control": "no-store",
  "Referrer-Policy": "same-origin",
  "Cross-Origin-Opener-Policy": "unsafe-none",
};
const REDIRECT_HEADERS = { "Cache-Control": "no-store", "Referrer-Policy": "no-referrer" };

export const meta: MetaFunction = () => [{ title: "Authorize Application" }];
export const headers: HeadersFunction = () => CONSENT_HEADERS;

type PageErrorData = {
  message: string;
  signInHref?: string;
  reloadHref?: string;
  /** The redirect address the request asked for, under "no longer valid". */
  requestedRedirectUri?: string;
  /** Why a registered redirect address is no longer accepted (a refused scheme). */
  redirectReason?: string;
  /** The signed-in account and the request to come back to, under "no access". */
  account?: string;
  switchAccountReturnTo?: string;
};

/** An error shown on our page (never a redirect to the client). */
function pageError(status: number, data: PageErrorData): Response {
  return json(data, { status, headers: CONSENT_HEADERS });
}

function rethrowAsPage(error: unknown, signedIn?: { account: string; requestId: string }): never {
  if (error instanceof AuthorizePageError) {
    const data: PageErrorData = { message: error.message };
    if (error.requestedRedirectUri) data.requestedRedirectUri = error.requestedRedirectUri.slice(0, 2048);
    if (error.reason) data.redirectReason = error.reason;
    if (error.message === MESSAGES.noAccess && signedIn) {
      data.account = signedIn.account;
      data.switchAccountReturnTo = consentPath(signedIn.requestId);
    }
    throw pageError(error.status, data);
  }
  throw error;
}

export async function loader({ request, context }: LoaderFunctionArgs) {
  const { ctx } = context;
  const params = new URL(request.url).searchParams;
  try {
    if (!params.has("client_id") && params.has("request")) {
      const pending = await loadPendingRequest(ctx, params.get("request"));
      const user = await requireRequestUser(context, request);
      let view;
      try {
        view = await loadConsent(ctx, pending, user.id, params.get("server"));
      } catch (error) {
        rethrowAsPage(error, { account: user.email, requestId: pending.id });
      }
      const { sid, setCookie } = await getBrowserSession(context, request);
      return json(
        { ...view, account: user.email, csrf: csrfToken(ctx, sid, `authorize:${pending.id}`) },
        { headers: { ...CONSENT_HEADERS, ...(setCookie ? { "Set-Cookie": setCookie } : {}) } },
      );
    }
    const start = await startAuthorization(ctx, params);
    throw redirect(start.location, { headers: REDIRECT_HEADERS });
  } catch (error) {
    rethrowAsPage(error);
  }
}

const MAX_TOOLS = 500;

export async function action({ request, context }: ActionFunctionArgs) {
  const { ctx } = context;
  let form: FormData;
  try {
    form = await request.formData();
  } catch {
    throw pageError(400, { message: "This form could not be read. Reload the page and try again." });
  }
  const requestId = String(form.get("request") ?? "");
  const reloadHref = /^[\w-]{1,64}$/.test(requestId) ? consentPath(requestId) : undefined;
  const user = await getUser(ctx, request);
  if (!user) {
    throw pageError(401, {
      message: MESSAGES.signedOut,
      signInHref: reloadHref ? `/sign-in?returnTo=${encodeURIComponent(reloadHref)}` : "/sign-in",
    });
  }
  // The token is bound to this browser session and to this request (docs/decisions/005-consent-csrf.md).
  if (!(await checkCsrf(ctx, request, form, `authorize:${requestId}`))) {
    throw pageError(403, { message: "This form has expired or did not come from this page. Reload the page and try again.", reloadHref });
  }
  const intent = form.get("intent");
  if (intent !== "approve" && intent !== "deny") {
    return json({ formError: "Choose Approve or Deny." }, { status: 400, headers: CONSENT_HEADERS });
  }
  const chosen = form.get("server");
  const toolIds = form.getAll("tool").filter((v): v is string => typeof v === "string");
  if (toolIds.length > MAX_TOOLS) throw pageError(400, { message: "This form lists too many tools. Reload the page and try again." });
  try {
    const pending = await loadPendingRequest(ctx, requestId);
    const decision = { user, request: pending, chosenServerId: typeof chosen === "string" && chosen ? chosen : null, toolIds };
    const outcome = intent === "approve" ? await approveAuthorization(ctx, decision) : await denyAuthorization(ctx, decision);
    if (outcome.redirectKind === "app") {
      // A private-use scheme cannot be shown as a page: hand over through Authorization Complete.
      const cookie = await storeCompletion(ctx, outcome, intent === "deny");
      return redirect(COMPLETE_PATH, { status: 303, headers: { ...REDIRECT_HEADERS, "Set-Cookie": cookie } });
    }
    return redirect(outcome.location, { status: 303, headers: REDIRECT_HEADERS });
  } catch (error) {
    if (error instanceof ConsentFormError) {
      // The ticks come back as they were left (the page is rendered anew without JavaScript).
      return json({ formError: error.message, toolIds }, { status: 400, headers: CONSENT_HEADERS });
    }
    rethrowAsPage(error, { account: user.email, requestId });
  }
}

function ClientSummary({ client }: { client: ClientPresentation }) {
  return (
    <div className="stack">
      <p className="consent-lead">
        {client.logoUrl ? <img src={client.logoUrl} alt="" width={40} height={40} className="app-logo consent-logo" /> : null}
        <strong className="consent-client">
          <ClientText>{client.name}</ClientText>
        </strong>{" "}
        {client.kind === "registered" ? (
          <span className="badge badge--warn" title="The application registered itself; its name is not verified">
            Unverified
          </span>
        ) : null}{" "}
        wants to use tools on your MCP server.
      </p>
      <dl className="consent-facts">
        <dt>Returns to</dt>
        <dd data-testid="returns-to">
          {client.redirectKind === "loopback" ? (
            <>
              this computer (port <code data-testid="redirect-host">{client.redirectPort}</code>)
            </>
          ) : client.redirectKind === "app" ? (
            <>
              an app on this device (<code data-testid="redirect-host"><ClientText>{client.redirectHost}</ClientText></code>)
            </>
          ) : (
            <code data-testid="redirect-host">
              <ClientText>{client.redirectHost}</ClientText>
            </code>
          )}
        </dd>
        {client.clientIdHost ? (
          <>
            <dt>Published by</dt>
            <dd>
              <code>
                <ClientText>{client.clientIdHost}</ClientText>
              </code>
            </dd>
          </>
        ) : null}
      </dl>
      {client.kind === "registered" ? (
        <p className="muted small">
          This application registered itself, so its name is not verified by Toolgate.
        </p>
      ) : null}
      {client.redirectKind === "loopback" ? (
        <div className="alert alert--warn" role="note" data-testid="redirect-warning">
          <strong>Check that you started this.</strong> The authorization goes to a program on this computer (
          <code>{client.redirectHost}</code>). Any local program can use this name: approve only if
          you just connected it yourself.
        </div>
      ) : null}
      {client.redirectKind === "app" ? (
        <div className="alert alert--warn" role="note" data-testid="redirect-warning">
          <strong>Check that you started this.</strong> The authorization goes to an app link (
          <code>
            <ClientText>{client.redirectHost}</ClientText>
          </code>
          ). Any installed app can claim that link: approve only if you just connected this application yourself.
        </div>
      ) : null}
    </div>
  );
}

export default function Authorize() {
  const data = useLoaderData<typeof loader>();
  const actionData = useActionData<typeof action>();
  const navigation = useNavigation();
  const submit = useSubmit();
  const submitting = navigation.state !== "idle" && navigation.formMethod?.toUpperCase() === "POST";
  const approving = submitting && navigation.formData?.get("intent") === "approve";
  const formAction = consentPathClient(data.requestId, data.choices ? data.server?.id : null);
  const ticked = (actionData as { toolIds?: string[] } | undefined)?.toolIds ?? null;
  return (
    <section className="card narrow stack consent" aria-labelledby="authorize-title">
      <h1 id="authorize-title">Authorize Application</h1>
      {actionData && "formError" in actionData ? (
        <div className="alert alert--error" role="alert">
          {actionData.formError}
        </div>
      ) : null}
      <ClientSummary client={data.client} />

      {data.choices ? (
        <Form method="get" action="/authorize" replace className="stack" aria-label="Choose an MCP server">
          <input type="hidden" name="request" value={data.requestId} />
          <fieldset>
            <legend>MCP server</legend>
            {data.choices.length === 0 ? (
              <p className="muted">You have no MCP servers yet. Create one, then connect the application again.</p>
            ) : null}
            {data.choices.map((choice) => (
              <label key={choice.id} className="checkbox">
                <input
                  type="radio"
                  name="server"
                  value={choice.id}
                  defaultChecked={choice.id === data.server?.id}
                  onChange={(event) => {
                    if (event.currentTarget.form) submit(event.currentTarget.form, { replace: true });
                  }}
                />
                <span>{choice.name}</span>
              </label>
            ))}
          </fieldset>
          {data.choices.length > 1 ? (
            <button type="submit" className="button button--secondary">
              Show tools
            </button>
          ) : null}
        </Form>
      ) : (
        <p>
          MCP server: <strong data-testid="server-name">{data.server?.name}</strong>
        </p>
      )}

      <Form method="post" action={formAction} className="stack">
        <input type="hidden" name="csrf" value={data.csrf} />
        <input type="hidden" name="request" value={data.requestId} />
        {data.choices && data.server ? <input type="hidden" name="server" value={data.server.id} /> : null}
        {data.server ? (
          <fieldset>
            <legend>
              Tools this application may call on <span data-testid="tools-server-name">{data.server.name}</span>
            </legend>
            {data.tools.length === 0 ? <p className="muted">This server has no tools yet.</p> : null}
            <ToolEffectSummary effects={data.tools.map((t) => t.effect)} />
            <ul className="list">
              {data.tools.map((tool) => (
                <li key={tool.id}>
                  <label className="checkbox">
                    <input type="checkbox" name="tool" value={tool.id} defaultChecked={ticked ? ticked.includes(tool.id) : true} />
                    <span>
                      <span className="tool-name">{tool.name}</span> <ToolEffectMark effect={tool.effect} />
                      {tool.description ? <span className="muted small consent-tool-description">{tool.description}</span> : null}
                    </span>
                  </label>
                </li>
              ))}
            </ul>
          </fieldset>
        ) : null}
        <p>
          Scope: <span className="badge" data-testid="scope">{data.scope}</span>
        </p>
        <p className="muted small">
          Signed in as <span data-testid="account">{data.account}</span>. You can revoke this access at any time
          under Connected apps.
        </p>
        {/* Stays in view at the bottom of the screen while the tool list scrolls (phones). */}
        <div className="consent-actions">
          <button type="submit" name="intent" value="approve" className="button" disabled={submitting || !data.server}>
            {approving ? (
              <>
                <span className="spinner" aria-hidden="true" />
                Authorizing...
              </>
            ) : (
              "Approve"
            )}
          </button>
          <button type="submit" name="intent" value="deny" className="button button--secondary" disabled={submitting}>
            Deny
          </button>
          <span role="status" className="visually-hidden">
            {approving ? "Authorizing..." : ""}
          </span>
        </div>
      </Form>
    </section>
  );
}

/** consentPath without the server module (this runs in the browser too). */
function consentPathClient(requestId: string, serverId: string | null | undefined): string {
  const query = new URLSearchParams({ request: requestId });
  if (serverId) query.set("server", serverId);
  return `/authorize?${query.toString()}`;
}

// docs/troubleshooting.md explains each of the page's messages.
const TROUBLESHOOTING_URL = "/help/troubleshooting";

export function ErrorBoundary() {
  const error = useRouteError();
  const root = useRootData();
  const data: PageErrorData | null =
    isRouteErrorResponse(error) && error.data && typeof error.data.message === "string" ? (error.data as PageErrorData) : null;
  return (
    <section className="card narrow stack" aria-labelledby="authorize-title">
      <h1 id="authorize-title">Authorize Application</h1>
      <div className="alert alert--error" role="alert">
        {data ? data.message : "The request could not be completed. Please try again."}
      </div>
      {data?.requestedRedirectUri ? (
        <p className="small">
          The application asked to return to{" "}
          <code className="break" data-testid="requested-redirect-uri">
            <ClientText>{data.requestedRedirectUri}</ClientText>
          </code>
          {data.redirectReason ? <>. {data.redirectReason}</> : ", which it has not registered (or no longer lists)."}
        </p>
      ) : null}
      {data?.account && data.switchAccountReturnTo ? (
        <div className="stack">
          <p>
            You are signed in as <strong data-testid="account">{data.account}</strong>. Only the account that created this MCP
            server can connect applications to it.
          </p>
          <form method="post" action="/sign-out">
            <input type="hidden" name="csrf" value={root?.csrf ?? ""} />
            <input type="hidden" name="returnTo" value={data.switchAccountReturnTo} />
            <button type="submit" className="button">
              Use another account
            </button>
          </form>
        </div>
      ) : null}
      {data?.signInHref ? (
        <p>
          <Link to={data.signInHref} className="button">
            Sign in
          </Link>
        </p>
      ) : null}
      {data?.reloadHref ? (
        <p>
          <Link to={data.reloadHref} reloadDocument>
            Reload the authorization page
          </Link>
        </p>
      ) : null}
      {data && !data.signInHref && !data.reloadHref && !data.account ? (
        <p className="muted">Return to the application and connect again.</p>
      ) : null}
      <p className="small">
        <a href={TROUBLESHOOTING_URL}>What this means and what to do</a>
      </p>
    </section>
  );
}

const EFFECT_LABEL = { reads: "Only reads", changes: "Can change data", deletes: "Can change or delete data" } as const;

/** A tool's effect on data, from its annotations (tools that say nothing may change or delete). */
function ToolEffectMark({ effect }: { effect: keyof typeof EFFECT_LABEL }) {
  return (
    <span className={`badge tool-effect tool-effect--${effect}`} data-testid="tool-effect">
      {EFFECT_LABEL[effect]}
    </span>
  );
}

function ToolEffectSummary({ effects }: { effects: (keyof typeof EFFECT_LABEL)[] }) {
  if (effects.length === 0) return null;
  const writing = effects.filter((e) => e !== "reads").length;
  return (
    <p className="small" data-testid="tool-effect-summary">
      {writing === 0
        ? "All of these tools only read data."
        : `${writing} of these ${effects.length} tools can change or delete data; ${effects.length - writing} only read.`}
    </p>
  );
}
