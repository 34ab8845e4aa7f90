import { Form } from "@remix-run/react";
import { FormError, FormField } from "./components";
import { LIMITS } from "./limits";

export type UpstreamFormProps = {
  csrf: string;
  view: { baseUrl: string; credential: string | null; type: string };
  errors?: Partial<Record<string, string>>;
};

/** The server page's "Upstream API" card: base URL and the API credential (works without JavaScript). */
export function UpstreamApiSection({ csrf, view, errors = {} }: UpstreamFormProps) {
  return (
    <section className="card" aria-labelledby="upstream-title" id="upstream">
      <h2 id="upstream-title">Upstream API</h2>
      <p className="muted small">
        Tools whose endpoint is a path (<code>/orders/{"{orderId}"}</code>) call this base URL. The API credential is stored
        encrypted, never shown again, and only sent to requests under the base URL.
      </p>
      <p data-testid="api-credential">
        API credential: <strong>{view.credential ?? "none"}</strong>
      </p>
      <Form method="post" noValidate className="stack">
        <FormError message={errors.form} />
        <input type="hidden" name="csrf" value={csrf} />
        <FormField name="upstreamBaseUrl" label="Base URL" error={errors.baseUrl}>
          {(a) => <input {...a} type="url" maxLength={LIMITS.url} defaultValue={view.baseUrl} placeholder="https://api.example.com/v1" spellCheck={false} />}
        </FormField>
        <FormField name="credentialType" label="Credential type" error={errors.type} hint="Leave unchanged and the secret empty to keep the current credential.">
          {(a) => (
            <select {...a} defaultValue="">
              <option value="">(keep the current one)</option>
              <option value="api-key">API key</option>
              <option value="bearer">Bearer token</option>
              <option value="basic">Basic auth</option>
            </select>
          )}
        </FormField>
        <FormField name="keyIn" label="API key sent in" error={errors.in} hint="For API keys only.">
          {(a) => (
            <select {...a} defaultValue="header">
              <option value="header">a header</option>
              <option value="query">a query parameter</option>
            </select>
          )}
        </FormField>
        <FormField name="keyName" label="API key header or query parameter" error={errors.name} hint="For API keys only, for example X-API-Key.">
          {(a) => <input {...a} type="text" maxLength={100} autoComplete="off" spellCheck={false} />}
        </FormField>
        <FormField name="basicUser" label="Basic auth user" error={errors.username} hint="For basic auth only.">
          {(a) => <input {...a} type="text" maxLength={200} autoComplete="off" spellCheck={false} />}
        </FormField>
        <FormField name="apiSecret" label="Secret (key, token or password)" error={errors.secret}>
          {(a) => <input {...a} type="password" maxLength={LIMITS.headerValue} autoComplete="new-password" spellCheck={false} />}
        </FormField>
        <div className="row">
          <button type="submit" name="intent" value="save-upstream" className="button">
            Save upstream API
          </button>
          {view.credential ? (
            <button type="submit" name="intent" value="clear-credential" className="button button--secondary">
              Remove API credential
            </button>
          ) : null}
        </div>
      </Form>
    </section>
  );
}
