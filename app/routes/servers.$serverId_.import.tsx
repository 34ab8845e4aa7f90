import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json, redirect } from "@remix-run/node";
import { Form, Link, useActionData, useLoaderData, useNavigation } from "@remix-run/react";
import { requireCsrf } from "~/auth/csrf.server";
import { useRootData } from "~/root";
import { FormError } from "~/servers/components";
import { checkUploadSize, finishImport, previewImport, startImport } from "~/servers/import-page.server";
import { readForm, redirectWithFlash, requireOwnServer } from "~/servers/pages.server";

export const meta: MetaFunction = () => [{ title: "Import from OpenAPI · Toolgate" }];

export async function loader({ request, context, params }: LoaderFunctionArgs) {
  const { ctx } = context;
  const { server } = await requireOwnServer(context, request, params.serverId);
  const url = new URL(request.url);
  const draftId = url.searchParams.get("draft");
  const query = (url.searchParams.get("q") ?? "").slice(0, 200);
  const preview = draftId ? await previewImport(ctx, server, draftId, query) : null;
  return json({
    server: { id: server.id, name: server.name, baseUrl: server.baseUrl },
    draftId: preview ? draftId : null,
    expired: Boolean(draftId && !preview),
    query,
    preview,
  });
}

export async function action({ request, context, params }: ActionFunctionArgs) {
  const { ctx } = context;
  const { server } = await requireOwnServer(context, request, params.serverId);
  const tooLarge = checkUploadSize(request);
  if (tooLarge) return json({ error: tooLarge }, { status: 413 });
  const form = await readForm(request);
  await requireCsrf(ctx, request, form);
  if (form.get("intent") === "apply") {
    const result = await finishImport(ctx, server, form);
    if (!result.ok) return json({ error: result.error }, { status: 400 });
    const c = result.counts;
    return redirectWithFlash(ctx, request, `/servers/${server.id}`, {
      toast: `Imported from OpenAPI: ${c.added} added, ${c.changed} changed, ${c.removed} removed, ${c.unchanged} unchanged.`,
    });
  }
  const started = await startImport(ctx, server, form);
  if (!started.ok) return json({ error: started.error }, { status: 400 });
  return redirect(`/servers/${server.id}/import?draft=${encodeURIComponent(started.draftId)}`);
}

const STATUS_LABEL = { new: "New", changed: "Changed", unchanged: "Unchanged", refused: "Cannot import" } as const;

export default function ImportOpenApi() {
  const { server, draftId, expired, query, preview } = useLoaderData<typeof loader>();
  const data = useActionData<typeof action>();
  const root = useRootData();
  const navigation = useNavigation();
  const busy = navigation.state === "submitting";
  const csrf = root?.csrf ?? "";
  return (
    <section aria-labelledby="import-title">
      <p className="small">
        <Link to={`/servers/${server.id}`}>← {server.name}</Link>
      </p>
      <h1 id="import-title">Import tools from an OpenAPI document</h1>
      <FormError message={data && "error" in data ? data.error : expired ? "This import expired. Start again." : null} />
      {!preview ? (
        <Form method="post" encType="multipart/form-data" className="card stack" noValidate>
          <input type="hidden" name="csrf" value={csrf} />
          <p className="muted small">
            OpenAPI 3.0 or 3.1 (YAML or JSON) or Swagger 2.0. Each operation you pick becomes a tool; importing again updates
            tools by name and keeps their approvals. Give the document one way:
          </p>
          <div className="field">
            <label htmlFor="import-file">Upload a file</label>
            <input id="import-file" type="file" name="file" accept=".json,.yaml,.yml,application/json,application/yaml,text/yaml" />
          </div>
          <div className="field">
            <label htmlFor="import-url">Or its URL</label>
            <input id="import-url" type="url" name="url" placeholder="https://api.example.com/openapi.json" spellCheck={false} />
          </div>
          <div className="field">
            <label htmlFor="import-document">Or paste it</label>
            <textarea id="import-document" name="document" rows={10} spellCheck={false} />
          </div>
          <div className="row">
            <button type="submit" name="intent" value="preview" className="button" disabled={busy}>
              {busy ? "Reading..." : "Preview operations"}
            </button>
          </div>
        </Form>
      ) : (
        <>
          <p>
            <strong>{preview.title || "Untitled API"}</strong> (OpenAPI {preview.specVersion}, from {preview.source}): {preview.total} operations.
          </p>
          <Form method="get" className="row" role="search">
            <input type="hidden" name="draft" value={draftId ?? ""} />
            <label htmlFor="import-filter" className="visually-hidden">
              Filter operations
            </label>
            <input id="import-filter" type="search" name="q" defaultValue={query} placeholder="Filter by name, path or description" />
            <button type="submit" className="button button--secondary">
              Filter
            </button>
          </Form>
          <Form method="post" className="card stack">
            <input type="hidden" name="csrf" value={csrf} />
            <input type="hidden" name="draft" value={draftId ?? ""} />
            <fieldset>
              <legend>Base URL of the API</legend>
              {[...new Set([...(server.baseUrl ? [server.baseUrl] : []), ...preview.servers])].map((url, i) => (
                <label key={url} className="checkbox">
                  <input type="radio" name="baseUrl" value={url} defaultChecked={i === 0} /> <code>{url}</code>
                  {url === server.baseUrl ? <span className="muted small"> (current)</span> : null}
                </label>
              ))}
              <label className="checkbox">
                <input type="radio" name="baseUrl" value="custom" defaultChecked={!server.baseUrl && preview.servers.length === 0} /> Another URL:
              </label>
              <input type="url" name="customBaseUrl" aria-label="Another base URL" placeholder="https://api.example.com/v1" spellCheck={false} />
            </fieldset>
            {preview.planError ? <p className="muted">{preview.planError}</p> : null}
            <table className="table" aria-label="Operations">
              <thead>
                <tr>
                  <th scope="col">Import</th>
                  <th scope="col">Method</th>
                  <th scope="col">Path</th>
                  <th scope="col">Tool and description</th>
                  <th scope="col">Status</th>
                </tr>
              </thead>
              <tbody>
                {preview.rows.map((row) => (
                  <tr key={row.key} data-testid="import-operation">
                    <td>
                      {row.status === "refused" ? null : (
                        <input type="checkbox" name="op" value={row.toolName} defaultChecked aria-label={`Import ${row.toolName}`} />
                      )}
                    </td>
                    <td>
                      <span className="badge">{row.method}</span>
                    </td>
                    <td>
                      <code className="break">{row.path}</code>
                    </td>
                    <td>
                      <span className="tool-name">{row.toolName}</span>
                      {row.summary ? <span className="muted small"> {row.summary}</span> : null}
                    </td>
                    <td>
                      {STATUS_LABEL[row.status]}
                      {row.reason ? <span className="small">: {row.reason}</span> : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            {preview.rows.length === 0 ? <p className="muted">No operation matches the filter.</p> : null}
            {preview.removed.length ? (
              <p data-testid="import-removed">
                Will be removed (imported before, no longer in the document): {preview.removed.join(", ")}
              </p>
            ) : null}
            <div className="row">
              <button type="submit" name="intent" value="apply" className="button" disabled={busy}>
                {busy ? "Importing..." : "Import selected operations"}
              </button>
              <Link to={`/servers/${server.id}/import`}>Start over</Link>
            </div>
          </Form>
        </>
      )}
    </section>
  );
}
