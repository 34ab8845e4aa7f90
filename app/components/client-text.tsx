import { displayText } from "~/utils/display-text";

/**
 * A string a client supplied (its name, a URI, a host), isolated from the text around it: `<bdi>`
 * keeps its direction from reordering the page's own words, and characters that could still
 * change the layout (rows stored before registration refused them) are replaced.
 */
export function ClientText({ children, className, testId }: { children: string; className?: string; testId?: string }) {
  return (
    <bdi className={className} data-testid={testId}>
      {displayText(children)}
    </bdi>
  );
}

/**
 * A plain-text message (a toast) in which names from outside travel between FSI and PDI
 * (isolatedName): each such name is rendered in its own <bdi>, the rest as text.
 */
export function MessageText({ children }: { children: string }) {
  const parts = children.split(/\u2068([^\u2069]*)\u2069/);
  return <>{parts.map((part, i) => (i % 2 === 1 ? <ClientText key={i}>{part}</ClientText> : part))}</>;
}
