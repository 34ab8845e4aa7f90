import { Link, useFetcher } from "@remix-run/react";
import { ClientText } from "~/components/client-text";
import { displayText } from "~/utils/display-text";
import { formatUtc } from "./format";

export type ConnectionView = {
  grantId: string;
  serverId: string;
  serverName: string;
  applicationName: string;
  redirectHosts: string[];
  identifiedBy: "metadata_document" | "registered";
  clientIdHost: string | null;
  firstAuthorizedAt: number;
  lastUsedAt: number | null;
  tools: { id: string; name: string }[];
};

/** The list of connected applications, each with its Revoke access form. */
export function ConnectionList({
  connections,
  csrf,
  showServer,
}: {
  connections: ConnectionView[];
  csrf: string;
  showServer: boolean;
}) {
  if (connections.length === 0) {
    return <p className="muted">No application can reach {showServer ? "your servers" : "this server"} right now.</p>;
  }
  return (
    <ul className="list card" aria-label="Connected applications">
      {connections.map((c) => (
        <ConnectionItem key={c.grantId} connection={c} csrf={csrf} showServer={showServer} />
      ))}
    </ul>
  );
}

function ConnectionItem({ connection: c, csrf, showServer }: { connection: ConnectionView; csrf: string; showServer: boolean }) {
  const fetcher = useFetcher();
  const pending = fetcher.state !== "idle";
  const headingId = `grant-${c.grantId}`;
  return (
    <li aria-labelledby={headingId} data-grant-id={c.grantId}>
      <div className="spread">
        <h3 id={headingId}>
          <ClientText>{c.applicationName}</ClientText>
        </h3>
        <fetcher.Form method="post" className="inline-form">
          <input type="hidden" name="csrf" value={csrf} />
          <input type="hidden" name="grantId" value={c.grantId} />
          <button
            type="submit"
            className="button button--danger"
            disabled={pending}
            aria-label={`Revoke access for ${displayText(c.applicationName)}${showServer ? ` to ${c.serverName}` : ""}`}
          >
            {pending ? "Revoking…" : "Revoke access"}
          </button>
        </fetcher.Form>
      </div>
      <dl className="connection-facts small">
        {showServer ? (
          <>
            <dt>Server</dt>
            <dd>
              <Link to={`/servers/${c.serverId}/connections`}>{c.serverName}</Link>
            </dd>
          </>
        ) : null}
        <dt>Redirects to</dt>
        <dd>
          {c.redirectHosts.length > 0
            ? c.redirectHosts.map((host, i) => (
                <span key={host}>
                  {i > 0 ? ", " : null}
                  <ClientText>{host}</ClientText>
                </span>
              ))
            : "unknown"}
        </dd>
        <dt>Identified by</dt>
        <dd>
          {c.identifiedBy === "metadata_document" ? (
            <>
              Metadata document published at {c.clientIdHost ? <ClientText>{c.clientIdHost}</ClientText> : "its client ID URL"}
            </>
          ) : (
            <>
              Self-registered <span className="badge badge--warn">unverified</span>
            </>
          )}
        </dd>
        <dt>First authorized</dt>
        <dd>
          <time dateTime={new Date(c.firstAuthorizedAt).toISOString()}>{formatUtc(c.firstAuthorizedAt)}</time>
        </dd>
        <dt>Last used</dt>
        <dd>
          {c.lastUsedAt === null ? (
            "Never"
          ) : (
            <time dateTime={new Date(c.lastUsedAt).toISOString()}>{formatUtc(c.lastUsedAt)}</time>
          )}
        </dd>
        <dt>Tools</dt>
        <dd>
          {c.tools.length === 0 ? (
            <span className="muted">none</span>
          ) : (
            <ul className="inline-list" aria-label={`Tools granted to ${displayText(c.applicationName)}`}>
              {c.tools.map((t) => (
                <li key={t.id} className="tool-name">
                  {t.name}
                </li>
              ))}
            </ul>
          )}
        </dd>
      </dl>
    </li>
  );
}
