import type { LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import { Form, Link, useLoaderData } from "@remix-run/react";
import { z } from "zod";
import { activityClients, AUDIT_KINDS, listActivity } from "~/access/activity.server";
import { findOwnedServer } from "~/access/connections.server";
import { LocalTime } from "~/components/local-time";
import { requireRequestUser } from "~/auth/session.server";
import { ClientText } from "~/components/client-text";
import { displayText } from "~/utils/display-text";

export const meta: MetaFunction<typeof loader> = ({ data }) => [
  { title: data ? `Activity · ${data.server.name} · Toolgate` : "Toolgate" },
];

/** Unknown or malformed filters are ignored rather than refused: this is a read-only page. */
const activityQuerySchema = z.object({
  client: z.string().max(2048).optional().catch(undefined),
  kind: z.string().max(100).optional().catch(undefined),
  before: z.coerce.number().int().positive().optional().catch(undefined),
});

export async function loader({ request, context, params }: LoaderFunctionArgs) {
  const { ctx } = context;
  const user = await requireRequestUser(context, request);
  const server = await findOwnedServer(ctx, user.id, params.serverId ?? "");
  if (!server) throw new Response("Not found", { status: 404 });
  const url = new URL(request.url);
  const query = activityQuerySchema.parse({
    client: url.searchParams.get("client") || undefined,
    kind: url.searchParams.get("kind") || undefined,
    before: url.searchParams.get("before") || undefined,
  });
  // The filter names an application (its registrations together); a bare client id still works.
  const applications = await activityClients(ctx, server.id);
  const chosen = query.client ? applications.find((a) => a.key === query.client) : undefined;
  const page = await listActivity(ctx, {
    serverId: server.id,
    clientId: chosen ? undefined : query.client,
    clientIds: chosen ? chosen.clientIds : undefined,
    kind: query.kind,
    before: query.before,
  });
  return json({
    server,
    filter: { client: query.client ?? "", kind: query.kind ?? "" },
    paged: query.before !== undefined,
    clients: applications.map((a) => ({ id: a.key, name: a.name, registrations: a.clientIds.length })),
    // Client registration is not tied to a server, so it never appears here.
    kinds: Object.entries(AUDIT_KINDS)
      .filter(([value]) => value !== "client.registered")
      .map(([value, label]) => ({ value, label })),
    events: page.events.map((e) => ({
      id: e.id,
      at: e.at,
      kind: e.kind,
      description: e.description,
      descriptionParts: e.descriptionParts,
      clientName: e.clientName,
    })),
    nextBefore: page.nextBefore,
  });
}

export default function ServerActivity() {
  const { server, filter, paged, clients, kinds, events, nextBefore } = useLoaderData<typeof loader>();
  const keep = new URLSearchParams();
  if (filter.client) keep.set("client", filter.client);
  if (filter.kind) keep.set("kind", filter.kind);
  const older = new URLSearchParams(keep);
  if (nextBefore !== null) older.set("before", String(nextBefore));
  const kindLabel = (kind: string) => kinds.find((k) => k.value === kind)?.label ?? kind;
  return (
    <section aria-labelledby="activity-title">
      <p className="small">
        <Link to={`/servers/${server.id}`}>← {server.name}</Link>
      </p>
      <div className="spread">
        <h1 id="activity-title">Activity</h1>
        <Link to={`/servers/${server.id}/connections`}>Connected applications</Link>
      </div>
      <Form method="get" className="card row" aria-label="Filter events">
        <div className="field">
          <label htmlFor="filter-client">Application</label>
          <select id="filter-client" name="client" defaultValue={filter.client}>
            <option value="">All applications</option>
            {clients.map((c) => (
              <option key={c.id} value={c.id} dir="auto">
                {displayText(c.name)}
                {c.registrations > 1 ? ` (${c.registrations} registrations)` : ""}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="filter-kind">Event</label>
          <select id="filter-kind" name="kind" defaultValue={filter.kind}>
            <option value="">All events</option>
            {kinds.map((k) => (
              <option key={k.value} value={k.value}>
                {k.label}
              </option>
            ))}
          </select>
        </div>
        <button type="submit" className="button button--secondary">
          Filter
        </button>
      </Form>
      {events.length === 0 ? (
        <p className="muted">No events{filter.client || filter.kind ? " match this filter" : " yet"}.</p>
      ) : (
        <div className="card table-card" tabIndex={0} role="region" aria-label="Events">
          <table>
            <caption className="visually-hidden">Events, newest first</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Event</th>
                <th scope="col">What happened</th>
              </tr>
            </thead>
            <tbody>
              {events.map((e) => (
                <tr key={e.id} data-event-id={e.id}>
                  <td>
                    <LocalTime ms={e.at} />
                  </td>
                  <td>{kindLabel(e.kind)}</td>
                  <td>
                    {e.descriptionParts.map((part, i) =>
                      typeof part === "string" ? part : <ClientText key={i}>{part.name}</ClientText>,
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav aria-label="Pages" className="row">
        {paged ? <Link to={`?${keep.toString()}`}>Newest events</Link> : null}
        {nextBefore !== null ? <Link to={`?${older.toString()}`}>Older events</Link> : null}
      </nav>
    </section>
  );
}
