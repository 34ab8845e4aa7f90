import type { HeadersFunction, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { useLoaderData } from "@remix-run/react";
import { useEffect, useState } from "react";
import { ClientText } from "~/components/client-text";
import { readCompletion } from "~/oauth/authorize-complete.server";

// The page holds an authorization code: never cached, no referrer.
// COOP unsafe-none keeps window.opener for Close Tab (docs/decisions/005-consent-csrf.md).
const HEADERS = { "Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "Cross-Origin-Opener-Policy": "unsafe-none" };

export const headers: HeadersFunction = () => HEADERS;

export const meta: MetaFunction<typeof loader> = ({ data }) => [
  { title: data?.completion?.denied ? "Access Denied" : "Authorization Complete" },
  // Hands the response to the application without JavaScript too (a private-use scheme opens the app),
  // after a moment in which the confirmation can be read.
  ...(data?.completion ? [{ httpEquiv: "refresh", content: `3;url=${data.completion.location}` }] : []),
];

export async function loader({ request, context }: LoaderFunctionArgs) {
  const completion = await readCompletion(context.ctx, request);
  return json({ completion }, { headers: HEADERS });
}

export default function AuthorizationComplete() {
  const { completion } = useLoaderData<typeof loader>();
  const [popup, setPopup] = useState(false);
  useEffect(() => {
    setPopup(Boolean(window.opener));
  }, []);
  if (!completion) {
    return (
      <section className="card narrow stack" aria-labelledby="complete-title">
        <h1 id="complete-title">Authorization Complete</h1>
        <p>This page is no longer available. Return to the application; if it is not connected, connect it again.</p>
      </section>
    );
  }
  const title = completion.denied ? "Access Denied" : "Authorization Complete";
  return (
    <section className="card narrow stack" aria-labelledby="complete-title">
      <h1 id="complete-title">{title}</h1>
      {completion.denied ? (
        <p>
          You denied <strong>
            <ClientText>{completion.clientName}</ClientText>
          </strong> access. It cannot call your tools.
        </p>
      ) : (
        <div className="alert alert--ok" role="status">
          You allowed <strong>
            <ClientText>{completion.clientName}</ClientText>
          </strong> to use{" "}
          {completion.serverName ? <strong>{completion.serverName}</strong> : "your MCP server"}.
        </div>
      )}
      <p>Returning you to the application. If nothing happens, open it with this link:</p>
      <p>
        <a className="button" href={completion.location} data-testid="return-link">
          Return to <ClientText>{completion.clientName}</ClientText>
        </a>
      </p>
      {popup ? (
        <p>
          <button type="button" className="button button--secondary" onClick={() => window.close()}>
            Close Tab
          </button>
        </p>
      ) : (
        <p className="muted small">You can close this tab.</p>
      )}
    </section>
  );
}
