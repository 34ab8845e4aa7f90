import { Form, Link } from "@remix-run/react";
import { useId, useRef } from "react";
import { useHydrated } from "~/servers/components";

export type ConfirmActionProps = {
  /** The visible text of the control, e.g. "Revoke access". */
  label: string;
  /** A fuller accessible name when the label alone is ambiguous in a list. */
  accessibleLabel?: string;
  /** The confirmation page: where the control leads without JavaScript. */
  confirmHref: string;
  title: string;
  /** What cannot be undone, spelled out. */
  consequence: string;
  /** Where the confirming form posts (the real action), with its hidden fields. */
  action: string;
  fields: Record<string, string>;
  confirmLabel: string;
  className?: string;
  disabled?: boolean;
};

/**
 * An action that cannot be undone, asked first. Without JavaScript the control is a link to a
 * confirmation page; once the page has hydrated it opens a modal <dialog> saying the same thing,
 * whose form posts the real action (with its CSRF token in `fields`).
 */
export function ConfirmAction(props: ConfirmActionProps) {
  const hydrated = useHydrated();
  const dialog = useRef<HTMLDialogElement>(null);
  const cancel = useRef<HTMLButtonElement>(null);
  const id = useId();
  const className = props.className ?? "button button--danger";
  if (!hydrated) {
    return (
      <Link to={props.confirmHref} className={className} aria-label={props.accessibleLabel}>
        {props.label}
      </Link>
    );
  }
  return (
    <>
      <button
        type="button"
        className={className}
        aria-label={props.accessibleLabel}
        aria-haspopup="dialog"
        disabled={props.disabled}
        onClick={() => {
          dialog.current?.showModal();
          // The safe choice has the focus: Enter does not confirm by accident.
          cancel.current?.focus();
        }}
      >
        {props.label}
      </button>
      <dialog ref={dialog} className="confirm-dialog" aria-labelledby={`${id}-title`} aria-describedby={`${id}-consequence`}>
        <h2 id={`${id}-title`}>{props.title}</h2>
        <p id={`${id}-consequence`}>{props.consequence}</p>
        <p className="muted small">This cannot be undone.</p>
        <Form method="post" action={props.action} className="row" onSubmit={() => dialog.current?.close()}>
          {Object.entries(props.fields).map(([name, value]) => (
            <input key={name} type="hidden" name={name} value={value} />
          ))}
          <button type="submit" className="button button--danger-solid">
            {props.confirmLabel}
          </button>
          <button ref={cancel} type="button" className="button button--secondary" onClick={() => dialog.current?.close()}>
            Cancel
          </button>
        </Form>
      </dialog>
    </>
  );
}

/** The same confirmation as a page of its own (no JavaScript). */
export function ConfirmPage(props: {
  title: string;
  consequence: string;
  action: string;
  fields: Record<string, string>;
  confirmLabel: string;
  cancelHref: string;
}) {
  return (
    <section className="card narrow stack" aria-labelledby="confirm-title">
      <h1 id="confirm-title">{props.title}</h1>
      <p>{props.consequence}</p>
      <p className="muted small">This cannot be undone.</p>
      <Form method="post" action={props.action} className="row">
        {Object.entries(props.fields).map(([name, value]) => (
          <input key={name} type="hidden" name={name} value={value} />
        ))}
        <button type="submit" className="button button--danger-solid">
          {props.confirmLabel}
        </button>
        <Link to={props.cancelHref} className="button button--secondary">
          Cancel
        </Link>
      </Form>
    </section>
  );
}
