import type { MetaFunction } from "@remix-run/node";
// The one copy of the text: docs/troubleshooting.md, compiled into the app at build time.
import Troubleshooting from "../../docs/troubleshooting.md";

export const meta: MetaFunction = () => [{ title: "Troubleshooting · Toolgate" }];

/** docs/troubleshooting.md as a page, so the Authorize Application page's errors can link to it. */
export default function TroubleshootingPage() {
  return (
    <article className="card prose" aria-label="Troubleshooting">
      <Troubleshooting />
    </article>
  );
}
