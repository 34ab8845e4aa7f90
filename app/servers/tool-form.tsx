import { Form, Link, useNavigation } from "@remix-run/react";
import { FormError, FormField } from "./components";
import { ENDPOINT_METHODS, LIMITS } from "./limits";

const HINTS = [
  ["readOnlyHint", "Only reads data", "The tool does not change anything (shown to the person approving an application)."],
  ["destructiveHint", "May delete or overwrite data", "Meaningful when it is not read-only; MCP assumes yes when not set."],
  ["idempotentHint", "Repeating a call has no further effect", "For example PUT or DELETE of one resource."],
  ["openWorldHint", "Reaches outside systems", "It talks to the open world (web, other services) rather than a closed domain."],
] as const;

/** Field names of the tool form (its server side, pages.server.ts, reads the same names). */
export type ToolFormField =
  | "name"
  | "description"
  | "inputSchema"
  | "endpointUrl"
  | "endpointMethod"
  | "endpointHeaders"
  | "endpointParams"
  | "outputSchema"
  | "title"
  | ToolHintField;
export type ToolHintField = (typeof HINTS)[number][0];

/** The empty tool form. */
export function emptyToolFormValues(inputSchema: string): Record<ToolFormField, string> {
  return {
    name: "",
    description: "",
    inputSchema,
    endpointUrl: "",
    endpointMethod: "POST",
    endpointHeaders: "",
    endpointParams: "",
    outputSchema: "",
    title: "",
    readOnlyHint: "",
    destructiveHint: "",
    idempotentHint: "",
    openWorldHint: "",
  };
}

export type ToolFormProps = {
  csrf: string;
  values: Record<ToolFormField, string>;
  /** The server's base URL, when set: endpoint paths starting with / are resolved against it. */
  baseUrl?: string | null;
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
export function ToolForm({ csrf, values, errors = {}, submitLabel, pendingLabel, cancelTo, baseUrl }: ToolFormProps) {
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
      <FormField
        name="endpointUrl"
        label="Endpoint URL or path"
        error={errors.endpointUrl}
        hint={
          <>
            A full URL, or a path on the server&apos;s base URL{baseUrl ? ` (${baseUrl})` : " (set one under Upstream API on the server's page)"}.
            {" {name}"} in the path takes the argument of that name, escaped (/orders/{"{orderId}"}). Requests are signed with the server&apos;s signing secret.
          </>
        }
      >
        {(a) => <input {...a} type="text" required maxLength={LIMITS.url} defaultValue={values.endpointUrl} placeholder="https://api.example.com/tools/lookup or /orders/{orderId}" spellCheck={false} />}
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
      <FormField
        name="endpointParams"
        label="Argument mapping (optional, JSON)"
        error={errors.endpointParams}
        hint={
          <>
            Where each argument goes: {'{"orderId": {"in": "path"}, "include": {"in": "query", "explode": false}, "tenant": {"in": "header", "name": "X-Tenant"}, "order": {"in": "body"}}'}.
            Without a mapping every argument is sent as the JSON body. Unmapped arguments go to the body (to the query for GET); {'"in": "body"'} makes one argument the whole body.
          </>
        }
      >
        {(a) => <textarea {...a} defaultValue={values.endpointParams} rows={4} spellCheck={false} />}
      </FormField>
      <FormField name="outputSchema" label="Output schema (optional, JSON Schema)" error={errors.outputSchema} hint={'An object schema of the endpoint\'s JSON answer; answers that match it are also sent as structured content.'}>
        {(a) => <textarea {...a} defaultValue={values.outputSchema} rows={4} spellCheck={false} />}
      </FormField>
      <fieldset className="annotations">
        <legend>Annotations (hints for clients and for the consent page)</legend>
        <FormField name="title" label="Display title (optional)" error={errors.title}>
          {(a) => <input {...a} type="text" maxLength={LIMITS.annotationTitle} defaultValue={values.title} />}
        </FormField>
        {HINTS.map(([name, label, hint]) => (
          <FormField key={name} name={name} label={label} error={errors[name]} hint={hint}>
            {(a) => (
              <select {...a} defaultValue={values[name]}>
                <option value="">Not set</option>
                <option value="true">Yes</option>
                <option value="false">No</option>
              </select>
            )}
          </FormField>
        ))}
      </fieldset>
      <div className="row">
        <button type="submit" className="button" disabled={busy}>
          {busy ? pendingLabel : submitLabel}
        </button>
        <Link to={cancelTo}>Cancel</Link>
      </div>
    </Form>
  );
}
