/**
 * Non-interactive access to one server: machine clients (client credentials), whether DPoP-bound
 * tokens are required, and whether enterprise-managed (ID-JAG) connections are accepted.
 * A new or rotated machine-client secret is shown in the action's own answer (never stored in a
 * cookie or sent again).
 */
import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Form, Link, useActionData, useLoaderData } from "@remix-run/react";
import { requireCsrf } from "~/auth/csrf.server";
import { useRootData } from "~/root";
import { CopyField } from "~/servers/components";
import { readForm, requireOwnServer } from "~/servers/pages.server";
import { listTools, mcpUrl } from "~/servers/servers.server";
import {
  createMachineClient,
  listMachineClients,
  MachineClientError,
  revokeMachineClient,
  rotateMachineClientSecret,
} from "~/oauth/machine-clients.server";
import { getServerAccessSettings, updateServerAccessSettings } from "~/oauth/server-access.server";

export const meta: MetaFunction<typeof loader> = ({ data }) => [
  { title: data ? `Machine and enterprise access · ${data.server.name} · Toolgate` : "Access · Toolgate" },
];

const NO_STORE = { "Cache-Control": "no-store" };

export async function loader({ request, context, params }: LoaderFunctionArgs) {
  const { ctx } = context;
  const { user, server } = await requireOwnServer(context, request, params.serverId);
  return json(
    {
      server: { id: server.id, name: server.name },
      mcpUrl: mcpUrl(ctx, server.id),
      tokenUrl: `${ctx.config.publicUrl}/token`,
      tools: (await listTools(ctx, user.id, server.id) ?? []).map((t) => t.name),
      clients: await listMachineClients(ctx, user.id, server.id),
      settings: (await getServerAccessSettings(ctx, user.id, server.id))!,
      enterpriseConfigured: ctx.config.enterpriseIdpIssuers.length > 0,
    },
    { headers: NO_STORE },
  );
}

type ActionResult = { error?: string; message?: string; secret?: { clientId: string; name: string; value: string } };

function text(form: FormData, name: string): string {
  const v = form.get(name);
  return typeof v === "string" ? v.slice(0, 70_000) : "";
}

export async function action({ request, context, params }: ActionFunctionArgs) {
  const { ctx } = context;
  const { user, server } = await requireOwnServer(context, request, params.serverId);
  const form = await readForm(request);
  await requireCsrf(ctx, request, form);
  const answer = (result: ActionResult, status = 200) => json(result, { status, headers: NO_STORE });
  try {
    switch (form.get("intent")) {
      case "create-client": {
        const keys = text(form, "keys");
        let jwks: unknown;
        if (keys === "jwks") {
          try {
            jwks = JSON.parse(text(form, "jwks"));
          } catch {
            return answer({ error: "The JWKS is not valid JSON." }, 400);
          }
        }
        const created = await createMachineClient(ctx, {
          ownerId: user.id,
          serverId: server.id,
          name: text(form, "name"),
          toolNames: form.getAll("tools").filter((t): t is string => typeof t === "string"),
          jwks,
          jwksUri: keys === "jwks_uri" ? text(form, "jwksUri") : undefined,
        });
        return answer({
          message: `Machine client ${created.name} created (client ID ${created.clientId}).`,
          ...(created.secret ? { secret: { clientId: created.clientId, name: created.name, value: created.secret } } : {}),
        });
      }
      case "rotate-client-secret": {
        const clientId = text(form, "clientId");
        const value = await rotateMachineClientSecret(ctx, user.id, clientId);
        return answer({ message: "The secret was replaced; the old one no longer works.", secret: { clientId, name: "", value } });
      }
      case "revoke-client":
        if (!await revokeMachineClient(ctx, user.id, text(form, "clientId"))) return answer({ error: "This machine client is already revoked." }, 404);
        return answer({ message: "The machine client was revoked; its tokens stopped working at once." });
      case "settings":
        await updateServerAccessSettings(ctx, user.id, server.id, {
          dpopRequired: form.get("dpopRequired") === "on",
          enterpriseAccess: form.get("enterpriseAccess") === "on",
          enterpriseTools: form.getAll("enterpriseTools").filter((t): t is string => typeof t === "string"),
        });
        return answer({ message: "Access settings saved." });
      default:
        return answer({ error: "Unknown action." }, 400);
    }
  } catch (error) {
    if (error instanceof MachineClientError) return answer({ error: error.message }, 400);
    throw error;
  }
}

export default function ServerAccessPage() {
  const { server, mcpUrl, tokenUrl, tools, clients, settings, enterpriseConfigured } = useLoaderData<typeof loader>();
  const result = useActionData<typeof action>() as ActionResult | undefined;
  const csrf = useRootData()?.csrf ?? "";
  return (
    <article aria-labelledby="access-title">
      <p className="small">
        <Link to={`/servers/${server.id}`}>← {server.name}</Link>
      </p>
      <h1 id="access-title">Machine and enterprise access</h1>
      {result?.error ? (
        <p className="alert alert--error" role="alert">
          {result.error}
        </p>
      ) : null}
      {result?.message ? (
        <p className="alert" role="status">
          {result.message}
        </p>
      ) : null}
      {result?.secret ? (
        <section className="alert alert--warn" aria-labelledby="client-secret-title">
          <h2 id="client-secret-title">Client secret</h2>
          <p>Copy it now: it is shown only once. The client sends it with HTTP Basic authentication (client_secret_basic).</p>
          <CopyField id="machine-client-id" label="Client ID" value={result.secret.clientId} />
          <CopyField id="machine-client-secret" label="Client secret" value={result.secret.value} />
        </section>
      ) : null}

      <section className="card" aria-labelledby="machine-clients-title">
        <h2 id="machine-clients-title">Machine clients</h2>
        <p className="muted">
          A machine client gets tokens without a person present (OAuth client credentials) at <code>{tokenUrl}</code> for{" "}
          <code className="break">{mcpUrl}</code>, acts as you on this server only, and may call only the tools you choose.
        </p>
        {clients.length === 0 ? (
          <p className="muted">No machine clients.</p>
        ) : (
          <ul className="list" aria-label="Machine clients">
            {clients.map((c) => (
              <li key={c.clientId}>
                <div className="spread">
                  <h3>{c.name}</h3>
                  <span className="row">
                    {c.authMethod === "client_secret_basic" ? (
                      <Form method="post">
                        <input type="hidden" name="csrf" value={csrf} />
                        <input type="hidden" name="clientId" value={c.clientId} />
                        <button type="submit" name="intent" value="rotate-client-secret" className="button button--secondary">
                          Rotate secret<span className="visually-hidden"> of {c.name}</span>
                        </button>
                      </Form>
                    ) : null}
                    <Form method="post">
                      <input type="hidden" name="csrf" value={csrf} />
                      <input type="hidden" name="clientId" value={c.clientId} />
                      <button type="submit" name="intent" value="revoke-client" className="button button--danger">
                        Revoke<span className="visually-hidden"> {c.name}</span>
                      </button>
                    </Form>
                  </span>
                </div>
                <p className="muted small">
                  <code>{c.clientId}</code> · {c.authMethod === "private_key_jwt" ? "signs with its keys (private_key_jwt)" : "secret (client_secret_basic)"}
                </p>
              </li>
            ))}
          </ul>
        )}
        <Form method="post" className="stack">
          <input type="hidden" name="csrf" value={csrf} />
          <h3>New machine client</h3>
          <div className="field">
            <label htmlFor="machine-name">Name</label>
            <input id="machine-name" name="name" required maxLength={100} />
          </div>
          <fieldset>
            <legend>Tools it may call</legend>
            {tools.length === 0 ? <p className="muted small">This server has no tools yet.</p> : null}
            {tools.map((t) => (
              <label key={t} className="row">
                <input type="checkbox" name="tools" value={t} /> <code>{t}</code>
              </label>
            ))}
          </fieldset>
          <fieldset>
            <legend>How it authenticates</legend>
            <label className="row">
              <input type="radio" name="keys" value="secret" defaultChecked /> A secret Toolgate generates
            </label>
            <label className="row">
              <input type="radio" name="keys" value="jwks" /> Its public keys (JWKS, private_key_jwt)
            </label>
            <label className="row">
              <input type="radio" name="keys" value="jwks_uri" /> A URL of its public keys (https)
            </label>
          </fieldset>
          <div className="field">
            <label htmlFor="machine-jwks">JWKS</label>
            <textarea id="machine-jwks" name="jwks" rows={4} placeholder='{"keys":[{"kty":"EC", ...}]}' />
          </div>
          <div className="field">
            <label htmlFor="machine-jwks-uri">JWKS URL</label>
            <input id="machine-jwks-uri" name="jwksUri" type="url" placeholder="https://example.com/jwks.json" />
          </div>
          <button type="submit" name="intent" value="create-client" className="button">
            Create machine client
          </button>
        </Form>
      </section>

      <section className="card" aria-labelledby="access-settings-title">
        <h2 id="access-settings-title">Token requirements and enterprise access</h2>
        <Form method="post" className="stack">
          <input type="hidden" name="csrf" value={csrf} />
          <label className="row">
            <input type="checkbox" name="dpopRequired" defaultChecked={settings.dpopRequired} /> Require DPoP-bound tokens (refuse plain
            bearer tokens on this server)
          </label>
          <label className="row">
            <input type="checkbox" name="enterpriseAccess" defaultChecked={settings.enterpriseAccess} disabled={!enterpriseConfigured} /> Accept
            enterprise-managed connections (an identity provider vouches for you; no consent screen)
          </label>
          {!enterpriseConfigured ? <p className="muted small">No enterprise identity provider is configured (TOOLGATE_ENTERPRISE_IDP_ISSUERS).</p> : null}
          <fieldset>
            <legend>Tools enterprise-managed connections may call</legend>
            {tools.map((t) => (
              <label key={t} className="row">
                <input type="checkbox" name="enterpriseTools" value={t} defaultChecked={settings.enterpriseTools.includes(t)} /> <code>{t}</code>
              </label>
            ))}
          </fieldset>
          <button type="submit" name="intent" value="settings" className="button">
            Save access settings
          </button>
        </Form>
      </section>
    </article>
  );
}
