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
