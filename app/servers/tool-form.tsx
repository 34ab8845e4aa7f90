import { Form, Link, useNavigation } from "@remix-run/react";
import { FormError, FormField } from "./components";
import { ENDPOINT_METHODS, LIMITS } from "./limits";

export type ToolFormProps = {
  csrf: string;
  values: Record<"name" | "description" | "inputSchema" | "endpointUrl" | "endpointMethod" | "endpointHeaders", string>;
  errors?: Partial<Record<string, string>>;
  submitLabel: string;
  pendingLabel: string;
  cancelTo: string;
};

export const NEW_TOOL_SCHEMA = JSON.stringify(
  { type: "object", properties: { query: { type: "string", description: "What to look up" } }, required: ["query"] },
  null,
  2,
);

/** The add/edit tool form (works as a plain form without JavaScript). */
export function ToolForm({ csrf, values, errors = {}, submitLabel, pendingLabel, cancelTo }: ToolFormProps) {
  const navigation = useNavigation();
  const busy = navigation.state === "submitting";
  return (
    <Form method="post" noValidate className="card">
      <FormError message={errors.form} />
      <input type="hidden" name="csrf" value={csrf} />
      <FormField name="name" label="Name" error={errors.name} hint="Letters, digits, _ - and . only (up to 128), unique on this server. Clients show it to the model.">
        {(a) => <input {...a} type="text" required maxLength={LIMITS.toolName} defaultValue={values.name} autoComplete="off" spellCheck={false} />}
      </FormField>
      <FormField name="description" label="Description" error={errors.description} hint="What the tool does; the AI client reads this to decide when to call it.">
        {(a) => <textarea {...a} maxLength={LIMITS.toolDescription} defaultValue={values.description} rows={3} />}
      </FormField>
      <FormField name="inputSchema" label="Input schema (JSON Schema)" error={errors.inputSchema} hint={'A JSON object with "type": "object"; arguments are checked against it before the endpoint is called.'}>
        {(a) => <textarea {...a} required defaultValue={values.inputSchema} rows={10} spellCheck={false} />}
      </FormField>
      <FormField name="endpointUrl" label="Endpoint URL" error={errors.endpointUrl} hint="Toolgate sends the arguments here as JSON, signed with the server's signing secret.">
        {(a) => <input {...a} type="url" required maxLength={LIMITS.url} defaultValue={values.endpointUrl} placeholder="https://api.example.com/tools/lookup" spellCheck={false} />}
      </FormField>
      <FormField name="endpointMethod" label="Method" error={errors.endpointMethod}>
        {(a) => (
          <select {...a} defaultValue={values.endpointMethod || "POST"}>
            {ENDPOINT_METHODS.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
        )}
      </FormField>
      <FormField name="endpointHeaders" label="Extra headers (optional)" error={errors.endpointHeaders} hint={'One "Name: value" per line, or a JSON object. Stored encrypted; use it for the endpoint\'s own API key.'}>
        {(a) => <textarea {...a} defaultValue={values.endpointHeaders} rows={3} spellCheck={false} placeholder="Authorization: Bearer ..." />}
      </FormField>
      <div className="row">
        <button type="submit" className="button" disabled={busy}>
          {busy ? pendingLabel : submitLabel}
        </button>
        <Link to={cancelTo}>Cancel</Link>
      </div>
    </Form>
  );
}
