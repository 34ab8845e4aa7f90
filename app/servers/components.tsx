/** UI pieces shared by the server and tool pages (no server-only imports). */
import { useEffect, useState, type ReactNode } from "react";
import { MessageText } from "~/components/client-text";

/** True once React has hydrated: things that need JavaScript render only then. */
export function useHydrated(): boolean {
  const [hydrated, setHydrated] = useState(false);
  useEffect(() => setHydrated(true), []);
  return hydrated;
}

/** A read-only value ready to copy: selectable text without JavaScript, a Copy button with it. */
export function CopyField({ id, label, value, hint }: { id: string; label: string; value: string; hint?: ReactNode }) {
  const hydrated = useHydrated();
  const [copied, setCopied] = useState(false);
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {hint ? (
        <span className="hint" id={`${id}-hint`}>
          {hint}
        </span>
      ) : null}
      <div className="copy-field">
        <input
          id={id}
          type="text"
          readOnly
          value={value}
          aria-describedby={hint ? `${id}-hint` : undefined}
          onFocus={(e) => e.currentTarget.select()}
        />
        {hydrated ? (
          <button
            type="button"
            className="button button--secondary"
            onClick={() => {
              void navigator.clipboard?.writeText(value).then(
                () => setCopied(true),
                () => setCopied(false),
              );
            }}
          >
            {copied ? "Copied" : "Copy"}
            <span className="visually-hidden"> {label}</span>
          </button>
        ) : null}
      </div>
      <span role="status" className="visually-hidden">
        {copied ? `${label} copied to the clipboard` : ""}
      </span>
    </div>
  );
}

/** A snippet of text in a <pre>, with a Copy button after hydration. */
export function Snippet({ id, title, text }: { id: string; title: string; text: string }) {
  const hydrated = useHydrated();
  const [copied, setCopied] = useState(false);
  return (
    <div className="snippet">
      <div className="spread">
        <h3 id={`${id}-title`}>{title}</h3>
        {hydrated ? (
          <button
            type="button"
            className="button button--secondary"
            aria-describedby={`${id}-title`}
            onClick={() => {
              void navigator.clipboard?.writeText(text).then(() => setCopied(true));
            }}
          >
            {copied ? "Copied" : "Copy"}
          </button>
        ) : null}
      </div>
      <pre id={id} tabIndex={0} aria-labelledby={`${id}-title`}>
        <code>{text}</code>
      </pre>
    </div>
  );
}

/** One labelled form field with its hint and error (aria-describedby wired up). */
export function FormField(props: {
  name: string;
  label: string;
  error?: string;
  hint?: ReactNode;
  children: (a11y: { id: string; name: string; "aria-invalid"?: true; "aria-describedby"?: string }) => ReactNode;
}) {
  const describedBy = [props.hint ? `${props.name}-hint` : null, props.error ? `${props.name}-error` : null].filter(Boolean).join(" ");
  return (
    <div className="field">
      <label htmlFor={props.name}>{props.label}</label>
      {props.hint ? (
        <span className="hint" id={`${props.name}-hint`}>
          {props.hint}
        </span>
      ) : null}
      {props.children({
        id: props.name,
        name: props.name,
        "aria-invalid": props.error ? true : undefined,
        "aria-describedby": describedBy || undefined,
      })}
      {props.error ? (
        <p className="field-error" id={`${props.name}-error`}>
          {props.error}
        </p>
      ) : null}
    </div>
  );
}

export function FormError({ message }: { message?: string | null }) {
  if (!message) return null;
  return (
    <div className="alert alert--error" role="alert">
      {message}
    </div>
  );
}

export function Toast({ message }: { message?: string | null }) {
  if (!message) return null;
  return (
    <div className="alert alert--ok" role="status">
      <MessageText>{message}</MessageText>
    </div>
  );
}

/** What Rotate signing secret does, as its confirmation says it. */
export function rotateSecretConsequence(serverName: string, toolCount: number): string {
  const endpoints = toolCount === 1 ? "the tool endpoint" : `every tool endpoint (${toolCount} tools)`;
  return `The current secret of ${serverName} stops working at once: ${endpoints} must be updated with the new secret before the next call, or it will refuse the call's signature. The new secret is shown once.`;
}
