import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Link, useActionData, useLoaderData, useNavigation } from "@remix-run/react";
import { requireCsrf } from "~/auth/csrf.server";
import { useRootData } from "~/root";
import { ConfirmAction } from "~/components/confirm-action";
import { CopyField, rotateSecretConsequence, Snippet, Toast } from "~/servers/components";
import { notFound, readFlash, readForm, redirectWithFlash, requireOwnServer } from "~/servers/pages.server";
import { listTools, mcpUrl, rotateSigningSecret } from "~/servers/servers.server";
import { UpstreamApiSection } from "~/servers/upstream-form";
import { handleUpstreamForm, upstreamView } from "~/servers/upstream-page.server";

export const meta: MetaFunction<typeof loader> = ({ data }) => [
  { title: data ? `${data.server.name} · Toolgate` : "MCP server · Toolgate" },
];

export async function loader({ request, context, params }: LoaderFunctionArgs) {
  const { ctx } = context;
  const { user, server } = await requireOwnServer(context, request, params.serverId);
  const { toast, signingSecret, setCookie } = await readFlash(ctx, request, user.id, server.id);
  const tools = (await listTools(ctx, user.id, server.id) ?? []).map((t) => ({
    id: t.id,
    name: t.name,
    description: t.description,
    endpointUrl: t.endpointUrl,
    endpointMethod: t.endpointMethod,
  }));
  return json(
    {
      server: { id: server.id, name: server.name, description: server.description, createdAt: server.createdAt },
      tools,
      upstream: upstreamView(server),
      mcpUrl: mcpUrl(ctx, server.id),
      toast,
      signingSecret,
    },
    // The page may carry the one-time signing secret: never cache it.
    { headers: { "Cache-Control": "no-store", ...(setCookie ? { "Set-Cookie": setCookie } : {}) } },
  );
}

export async function action({ request, context, params }: ActionFunctionArgs) {
  const { ctx } = context;
  const { user, server } = await requireOwnServer(context, request, params.serverId);
  const form = await readForm(request);
  await requireCsrf(ctx, request, form);
  const intent = form.get("intent");
  if (intent === "save-upstream" || intent === "clear-credential") {
    const result = await handleUpstreamForm(ctx, user.id, server, form);
    if (!result.ok) return json({ upstreamErrors: result.errors }, { status: 400 });
    return redirectWithFlash(ctx, request, `/servers/${server.id}#upstream`, { toast: result.toast });
  }
  if (intent !== "rotate-secret") return json({ error: "Unknown action." }, { status: 400 });
  const secret = await rotateSigningSecret(ctx, user.id, server.id);
  if (!secret) throw notFound();
  return redirectWithFlash(ctx, request, `/servers/${server.id}#signing-secret`, {
    toast: "The signing secret was replaced. Update your tool endpoints with the new one.",
    signingSecret: { userId: user.id, serverId: server.id, secret },
  });
}

/** A name a command line accepts: lower case letters, digits and hyphens. */
function slug(name: string): string {
  return (
    name
      .toLowerCase()
      .normalize("NFKD")
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 40) || "toolgate"
  );
}

export default function ServerPage() {
  const { server, tools, mcpUrl, toast, signingSecret, upstream } = useLoaderData<typeof loader>();
  const actionData = useActionData<typeof action>();
  const root = useRootData();
  const navigation = useNavigation();
  const rotating = navigation.state === "submitting" && navigation.formData?.get("intent") === "rotate-secret";
  const key = slug(server.name);
  const cursorConfig = JSON.stringify({ mcpServers: { [key]: { url: mcpUrl } } }, null, 2);
  const claudeDesktopConfig = JSON.stringify(
    { mcpServers: { [key]: { command: "npx", args: ["-y", "mcp-remote", mcpUrl] } } },
    null,
    2,
  );
  return (
    <article aria-labelledby="server-title">
      <p className="small">
        <Link to="/">← All servers</Link>
      </p>
      <Toast message={toast} />
      {signingSecret ? (
        <section className="alert alert--warn" aria-labelledby="new-secret-title">
          <h2 id="new-secret-title">Your new signing secret</h2>
          <p>Copy it now: it is shown only once. Your tool endpoints use it to check that a call comes from Toolgate.</p>
          <CopyField id="signing-secret-value" label="Signing secret" value={signingSecret} />
        </section>
      ) : null}
      <div className="spread">
        <h1 id="server-title">{server.name}</h1>
        <div className="row">
          <Link to={`/servers/${server.id}/edit`} className="button button--secondary">
            Edit server
          </Link>
          <Link to={`/servers/${server.id}/delete`} className="button button--danger">
            Delete server
          </Link>
        </div>
      </div>
      {server.description ? <p className="muted">{server.description}</p> : null}

      <section className="card" aria-labelledby="connect-title">
        <h2 id="connect-title">Connect an AI client</h2>
        <CopyField
          id="mcp-url"
          label="MCP URL"
          value={mcpUrl}
          hint="Paste this into your client. It will ask you to approve the connection in your browser."
        />
        <Snippet id="snippet-claude-code" title="Claude Code" text={`claude mcp add --transport http ${key} ${mcpUrl}`} />
        <Snippet id="snippet-cursor" title="Cursor (.cursor/mcp.json)" text={cursorConfig} />
        <Snippet id="snippet-claude-desktop" title="Claude Desktop (claude_desktop_config.json)" text={claudeDesktopConfig} />
        <p className="muted small">
          Claude Desktop can also add the MCP URL directly under Settings → Connectors → Add custom connector.
        </p>
      </section>

      <section className="card" aria-labelledby="tools-title">
        <div className="spread">
          <h2 id="tools-title">Tools</h2>
          <span className="row">
            <Link to={`/servers/${server.id}/import`} className="button button--secondary">
              Import OpenAPI
            </Link>
            <Link to={`/servers/${server.id}/tools/new`} className="button">
              Add tool
            </Link>
          </span>
        </div>
        {tools.length === 0 ? (
          <p className="muted">No tools yet. A tool is an HTTP endpoint that AI clients can call with arguments.</p>
        ) : (
          <ul className="list" aria-label="Tools">
            {tools.map((t) => (
              <li key={t.id}>
                <div className="spread">
                  <h3 className="tool-name">{t.name}</h3>
                  <span className="row">
                    <Link to={`/servers/${server.id}/tools/${t.id}`}>
                      Edit<span className="visually-hidden"> {t.name}</span>
                    </Link>
                    <Link to={`/servers/${server.id}/tools/${t.id}/delete`}>
                      Delete<span className="visually-hidden"> {t.name}</span>
                    </Link>
                  </span>
                </div>
                {t.description ? <p className="small">{t.description}</p> : null}
                <p className="muted small">
                  <span className="badge">{t.endpointMethod}</span> <code className="break">{t.endpointUrl}</code>
                </p>
              </li>
            ))}
          </ul>
        )}
      </section>

      <UpstreamApiSection
        csrf={root?.csrf ?? ""}
        view={upstream}
        errors={actionData && "upstreamErrors" in actionData ? actionData.upstreamErrors : undefined}
      />

      {/* connected applications section */}
      <section className="card" aria-labelledby="connected-apps">
        <h2 id="connected-apps">Connected applications</h2>
        <p className="muted">See which applications can call these tools, revoke their access, and read what they did.</p>
        <p className="row">
          <Link to={`/servers/${server.id}/connections`}>Connected applications</Link>
          <Link to={`/servers/${server.id}/activity`}>Activity</Link>
          <Link to={`/servers/${server.id}/access`}>Machine and enterprise access</Link>
        </p>
      </section>

      <section className="card" aria-labelledby="signing-secret">
        <h2 id="signing-secret">Signing secret</h2>
        <p>
          Every tool call carries <code>X-Toolgate-Timestamp</code> and <code>X-Toolgate-Signature: sha256=&lt;hex&gt;</code>,
          the HMAC-SHA256 of <code>timestamp + &quot;.&quot; + body</code> with this server&apos;s signing secret. The secret
          was shown once when the server was created; rotate it to get a new one (the old one stops working at once).
        </p>
        <ConfirmAction
          label={rotating ? "Rotating..." : "Rotate signing secret"}
          confirmHref={`/servers/${server.id}/rotate-secret`}
          title={`Rotate the signing secret of ${server.name}?`}
          consequence={rotateSecretConsequence(server.name, tools.length)}
          action={`/servers/${server.id}`}
          fields={{ csrf: root?.csrf ?? "", intent: "rotate-secret" }}
          confirmLabel="Rotate signing secret"
          disabled={rotating}
        />
      </section>
    </article>
  );
}
