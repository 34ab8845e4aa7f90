import { Form, Link } from "@remix-run/react";
import { ConfirmAction } from "~/components/confirm-action";
import { LocalTime } from "~/components/local-time";
import { ClientText } from "~/components/client-text";
import { displayText } from "~/utils/display-text";

export type ConnectionEntryView = {
  grantId: string;
  serverId: string;
  serverName: string;
  redirectHosts: string[];
  firstAuthorizedAt: number;
  lastUsedAt: number | null;
  devices: number;
  tools: { id: string; name: string }[];
  /** What revoking this one entry does. */
  consequence: string;
};

export type ApplicationGroupView = {
  key: string;
  applicationName: string;
  identifiedBy: "metadata_document" | "registered";
  clientIdHost: string | null;
  logoUrl: string | null;
  registrations: number;
  devices: number;
  lastUsedAt: number | null;
  serverNames: string[];
  entries: ConnectionEntryView[];
  /** What revoking every entry of the group does. */
  consequence: string;
};

type ListProps = {
  groups: ApplicationGroupView[];
  csrf: string;
  showServer: boolean;
  /** The list page: where the revoke forms post, and the base of the confirmation pages. */
  basePath: string;
  search: string;
};

/** "3 registrations", "2 devices", "1 device". */
function countLabel(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Search by name: a GET form, so it works without JavaScript and the result has its own URL. */
export function ConnectionSearch({ search, basePath }: { search: string; basePath: string }) {
  return (
    <Form method="get" action={basePath} role="search" className="row search-form" aria-label="Search applications">
      <label htmlFor="connections-search" className="visually-hidden">
        Application name
      </label>
      <input id="connections-search" type="search" name="q" defaultValue={search} placeholder="Search by name" maxLength={200} />
      <button type="submit" className="button button--secondary">
        Search
      </button>
      {search ? <Link to={basePath}>Show all</Link> : null}
    </Form>
  );
}

/** Connected applications, one card per application, each expandable to its authorizations. */
export function ConnectionList({ groups, csrf, showServer, basePath, search }: ListProps) {
  if (groups.length === 0) {
    return (
      <p className="muted">
        {search
          ? `No connected application is named like “${search}”.`
          : `No application can reach ${showServer ? "your servers" : "this server"} right now.`}
      </p>
    );
  }
  return (
    <ul className="group-list" aria-label="Connected applications">
      {groups.map((g) => (
        <ApplicationCard key={g.key} group={g} csrf={csrf} showServer={showServer} basePath={basePath} />
      ))}
    </ul>
  );
}

function ApplicationCard({ group: g, csrf, showServer, basePath }: { group: ApplicationGroupView; csrf: string; showServer: boolean; basePath: string }) {
  const headingId = `app-${g.key}`;
  const many = g.entries.length > 1;
  const servers = showServer ? g.serverNames.join(", ") : null;
  return (
    <li className="card" aria-labelledby={headingId} data-application={g.key}>
      <div className="spread">
        <div className="app-title">
          {g.logoUrl ? <img src={g.logoUrl} alt="" width={32} height={32} className="app-logo" /> : null}
          <h2 id={headingId} className="app-name">
            <ClientText>{g.applicationName}</ClientText>
          </h2>
          {g.identifiedBy === "registered" ? <span className="badge badge--warn">unverified</span> : null}
        </div>
        <ConfirmAction
          label={many ? "Revoke all" : "Revoke access"}
          accessibleLabel={`${many ? "Revoke all access" : "Revoke access"} for ${displayText(g.applicationName)}`}
          confirmHref={`${basePath}/revoke?app=${encodeURIComponent(g.key)}`}
          title={`Revoke access for ${displayText(g.applicationName)}?`}
          consequence={g.consequence}
          action={basePath}
          fields={{ csrf, app: g.key }}
          confirmLabel={many ? "Revoke all" : "Revoke access"}
        />
      </div>
      <p className="small muted group-summary" data-testid="group-summary">
        {g.identifiedBy === "metadata_document"
          ? `Published at ${g.clientIdHost ?? "its client ID URL"}`
          : `Self-registered · ${countLabel(g.registrations, "registration", "registrations")}`}
        {" · "}
        {countLabel(g.devices, "device", "devices")}
        {servers ? ` · ${servers}` : null}
        {" · last used "}
        {g.lastUsedAt === null ? "never" : <LocalTime ms={g.lastUsedAt} />}
      </p>
      <details className="group-details">
        <summary>
          {many ? `Show ${g.entries.length} authorizations` : "Show details"}
          <span className="visually-hidden"> of <ClientText>{g.applicationName}</ClientText></span>
        </summary>
        <ol className="list entry-list">
          {g.entries.map((e, i) => (
            <li key={e.grantId} data-grant-id={e.grantId}>
              <div className="spread">
                <h3 className="entry-title" id={`grant-${e.grantId}`}>
                  {showServer ? e.serverName : `Authorization ${i + 1}`}
                  {e.redirectHosts.length > 0 ? <span className="muted small"> → <HostList hosts={e.redirectHosts} /></span> : null}
                </h3>
                {many ? (
                  <ConfirmAction
                    label="Revoke"
                    accessibleLabel={`Revoke access for ${displayText(g.applicationName)}${showServer ? ` to ${e.serverName}` : ""}, authorization ${i + 1}`}
                    confirmHref={`${basePath}/revoke?grantId=${encodeURIComponent(e.grantId)}`}
                    title={`Revoke access for ${displayText(g.applicationName)}?`}
                    consequence={e.consequence}
                    action={basePath}
                    fields={{ csrf, grantId: e.grantId }}
                    confirmLabel="Revoke access"
                    className="button button--danger button--small"
                  />
                ) : null}
              </div>
              <dl className="connection-facts small">
                {showServer ? (
                  <>
                    <dt>Server</dt>
                    <dd>
                      <Link to={`/servers/${e.serverId}/connections`}>{e.serverName}</Link>
                    </dd>
                  </>
                ) : null}
                <dt>Redirects to</dt>
                <dd>{e.redirectHosts.length > 0 ? <HostList hosts={e.redirectHosts} /> : "unknown"}</dd>
                <dt>First authorized</dt>
                <dd>
                  <LocalTime ms={e.firstAuthorizedAt} />
                </dd>
                <dt>Last used</dt>
                <dd>{e.lastUsedAt === null ? "Never" : <LocalTime ms={e.lastUsedAt} />}</dd>
                <dt>Devices</dt>
                <dd>{e.devices}</dd>
                <dt>Tools</dt>
                <dd>
                  {e.tools.length === 0 ? (
                    <span className="muted">none</span>
                  ) : (
                    <ul className="inline-list" aria-label={`Tools granted to ${displayText(g.applicationName)}`}>
                      {e.tools.map((t) => (
                        <li key={t.id} className="tool-name">
                          {t.name}
                        </li>
                      ))}
                    </ul>
                  )}
                </dd>
              </dl>
            </li>
          ))}
        </ol>
      </details>
    </li>
  );
}

/** Redirect hosts as a comma-separated list, each isolated (they come from the client). */
function HostList({ hosts }: { hosts: string[] }) {
  return (
    <>
      {hosts.map((host, i) => (
        <span key={host}>
          {i > 0 ? ", " : null}
          <ClientText>{host}</ClientText>
        </span>
      ))}
    </>
  );
}
