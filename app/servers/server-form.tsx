import { Form, Link, useNavigation } from "@remix-run/react";
import { FormError, FormField } from "./components";
import { LIMITS } from "./limits";

/** Name and description of a server (create and edit). */
export function ServerForm(props: {
  csrf: string;
  values?: { name?: string; description?: string };
  errors?: Partial<Record<"name" | "description" | "form", string>>;
  submitLabel: string;
  pendingLabel: string;
  cancelTo: string;
}) {
  const navigation = useNavigation();
  const busy = navigation.state === "submitting";
  const errors = props.errors ?? {};
  return (
    <Form method="post" noValidate className="card">
      <FormError message={errors.form} />
      <input type="hidden" name="csrf" value={props.csrf} />
      <FormField name="name" label="Name" error={errors.name} hint="Shown to you and on the consent page when an application asks for access.">
        {(a) => <input {...a} type="text" required maxLength={LIMITS.serverName} defaultValue={props.values?.name} autoComplete="off" />}
      </FormField>
      <FormField name="description" label="Description (optional)" error={errors.description}>
        {(a) => <textarea {...a} maxLength={LIMITS.serverDescription} defaultValue={props.values?.description} rows={3} />}
      </FormField>
      <div className="row">
        <button type="submit" className="button" disabled={busy}>
          {busy ? props.pendingLabel : props.submitLabel}
        </button>
        <Link to={props.cancelTo}>Cancel</Link>
      </div>
    </Form>
  );
}
