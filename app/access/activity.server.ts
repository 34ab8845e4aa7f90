/**
 * The audit log as people read it: one server's events, newest first, keyset-paginated on id,
 * filterable by client and kind, each with a sentence saying what happened.
 */
import { and, desc, eq, inArray, lt, type SQL } from "drizzle-orm";
import type { AppContext } from "~/context.server";
import { displayText } from "~/utils/display-text";
import { applicationIdentity, redirectHostsOf } from "./connections.server";

export const ACTIVITY_PAGE_SIZE = 50;

/** The kinds the product records, with a label for the filter. Unknown kinds still display. */
export const AUDIT_KINDS: Record<string, string> = {
  "authorization.approved": "Authorization approved",
  "authorization.denied": "Authorization denied",
  "grant.revoked": "Access revoked",
  "token.issued": "Tokens issued",
  "token.refreshed": "Tokens refreshed",
  "token.revoked": "Token revoked",
  "refresh.reuse_detected": "Refresh token reuse detected",
  "code.reuse_detected": "Authorization code reuse detected",
  "tool.called": "Tool called",
  "client.registered": "Application registered",
  "machine_client.created": "Machine client created",
  "machine_client.secret_rotated": "Machine client secret rotated",
  "server.access_settings": "Access settings changed",
};

export type ActivityEvent = {
  id: number;
  at: number;
  kind: string;
  clientId: string | null;
  clientName: string | null;
  grantId: string | null;
  actor: string | null;
  actorLabel: string;
  detail: Record<string, unknown>;
  description: string;
  /** The description in pieces, names marked for isolation. */
  descriptionParts: SentencePart[];
};

export type ActivityPage = {
  events: ActivityEvent[];
  /** Pass as `before` to get the next (older) page; null on the last page. */
  nextBefore: number | null;
};

export type ActivityFilter = {
  serverId: string;
  clientId?: string | null;
  /** Events of any of these clients (one application's registrations). */
  clientIds?: string[] | null;
  kind?: string | null;
  /** Only events with an id below this (keyset pagination). */
  before?: number | null;
  limit?: number;
};

function parseDetail(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

const str = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : null);

function list(v: unknown): string[] | null {
  return Array.isArray(v) && v.every((x) => typeof x === "string") ? (v as string[]) : null;
}

/**
 * A sentence in pieces: strings are Toolgate's own words; `{ name }` is a name from outside (an
 * application's, a person's, a tool's), which the page renders isolated so that its direction or
 * characters cannot rearrange the words around it (docs/decisions/031-consent-screen-truth.md).
 */
export type SentencePart = string | { name: string };

function sentence(words: TemplateStringsArray, ...names: (string | SentencePart[])[]): SentencePart[] {
  const parts: SentencePart[] = [];
  words.forEach((w, i) => {
    if (w) parts.push(w);
    if (i < names.length) {
      const n = names[i]!;
      if (Array.isArray(n)) parts.push(...n);
      else parts.push({ name: n });
    }
  });
  return parts;
}

/** A sentence's plain text (for logs, exports and tests). */
export function sentenceText(parts: SentencePart[]): string {
  return parts.map((p) => (typeof p === "string" ? p : p.name)).join("");
}

/** A sentence for one event. `app` is the client's name (or "An application"), `who` the actor. */
export function describeEvent(kind: string, detail: Record<string, unknown>, app: string, who: string): string {
  return sentenceText(describeEventParts(kind, detail, app, who));
}

/** describeEvent, in pieces with the names marked. */
export function describeEventParts(kind: string, detail: Record<string, unknown>, app: string, who: string): SentencePart[] {
  const tools = list(detail.tools) ?? list(detail.toolNames);
  switch (kind) {
    case "authorization.approved":
      return tools
        ? tools.length === 0
          ? sentence`${who} approved ${app} for no tools`
          : sentence`${who} approved ${app} for ${tools.join(", ")}`
        : sentence`${who} approved ${app}`;
    case "code.reuse_detected":
      return sentence`An authorization code of ${app} was used twice; the tokens issued for it were revoked`;
    case "authorization.denied":
      return sentence`${who} denied ${app} access`;
    case "grant.revoked":
      return sentence`${who} revoked the access of ${app}; its tokens stopped working`;
    case "token.issued":
      if (detail.grantType === "client_credentials") return sentence`${app} (machine client) received an access token`;
      if (detail.grantType === "urn:ietf:params:oauth:grant-type:jwt-bearer") {
        const idp = str(detail.idp);
        return idp
          ? sentence`${app} received an access token on the word of ${idp}`
          : sentence`${app} received an access token on the word of an enterprise identity provider`;
      }
      return sentence`${app} received new tokens`;
    case "machine_client.created":
      return tools
        ? tools.length === 0
          ? sentence`${who} created the machine client ${app} for no tools`
          : sentence`${who} created the machine client ${app} for ${tools.join(", ")}`
        : sentence`${who} created the machine client ${app}`;
    case "machine_client.secret_rotated":
      return sentence`${who} replaced the secret of ${app}`;
    case "server.access_settings":
      return [
        ...sentence`${who} set DPoP `,
        detail.dpopRequired ? "required" : "optional",
        " and enterprise-managed connections ",
        detail.enterpriseAccess ? "on" : "off",
      ];
    case "token.refreshed":
      return sentence`${app} refreshed its tokens`;
    case "token.revoked":
      return detail.tokenType === "refresh_token"
        ? sentence`${app} revoked its refresh token (and the tokens issued with it)`
        : detail.tokenType === "access_token"
          ? sentence`${app} revoked an access token`
          : sentence`${app} revoked a token`;
    case "refresh.reuse_detected":
      return sentence`An old refresh token of ${app} was used again; its tokens were revoked as a precaution`;
    case "client.registered":
      return sentence`${app} registered itself`;
    case "tool.called": {
      const tool = str(detail.tool) ?? str(detail.toolName);
      const outcome = str(detail.outcome);
      const ms = typeof detail.durationMs === "number" ? ` in ${Math.round(detail.durationMs)} ms` : "";
      // Toolgate's own argument check refused it: nothing was sent, so no duration is worth showing.
      const toolPart: SentencePart[] = tool ? sentence`${tool}` : ["a tool"];
      if (outcome === "invalid_arguments") {
        return [...sentence`${app} called `, ...toolPart, ": refused: arguments did not match the schema (the endpoint was not called)"];
      }
      if (outcome === "refused") {
        const why =
          detail.reason === "not_granted" ? "the tool was not approved for it" : detail.reason === "unknown" ? "there is no such tool" : null;
        return [...sentence`${app} called `, ...toolPart, `: refused${why ? `: ${why}` : ""} (the endpoint was not called)`];
      }
      const result: SentencePart[] =
        outcome === null || outcome === "ok" || outcome === "success"
          ? ["successfully"]
          : outcome === "error"
            ? ["and the tool reported an error"]
            : outcome === "refused" || outcome === "forbidden" || outcome === "denied"
              ? ["but was refused"]
              : sentence`with outcome "${outcome}"`;
      return [...sentence`${app} called `, ...(tool ? sentence`${tool}` : ["a tool"]), " ", ...result, ...(ms ? [ms] : [])];
    }
    default:
      return AUDIT_KINDS[kind] ? sentence`${[AUDIT_KINDS[kind]!]} (${app})` : sentence`${kind} (${app})`;
  }
}

function describedEvent(kind: string, detail: Record<string, unknown>, app: string, who: string) {
  const descriptionParts = describeEventParts(kind, detail, app, who);
  return { description: sentenceText(descriptionParts), descriptionParts };
}

function actorLabel(actor: string | null, actorEmail: string | null, clientName: string | null): string {
  if (actor === null || actor === "system") return actor === "system" ? "Toolgate" : "Someone";
  if (actor.startsWith("client:")) return clientName ?? "The application";
  return actorEmail ?? "A user";
}

/** One page of a server's events, newest first. The caller has checked the user owns the server. */
export async function listActivity(ctx: AppContext, filter: ActivityFilter): Promise<ActivityPage> {
  const { auditEvents, oauthClients, users } = ctx.store.tables;
  const limit = Math.min(Math.max(filter.limit ?? ACTIVITY_PAGE_SIZE, 1), 500);
  const conditions: SQL[] = [eq(auditEvents.serverId, filter.serverId)];
  if (filter.clientId) conditions.push(eq(auditEvents.clientId, filter.clientId));
  if (filter.clientIds) conditions.push(inArray(auditEvents.clientId, filter.clientIds.length > 0 ? filter.clientIds : [""]));
  if (filter.kind) conditions.push(eq(auditEvents.kind, filter.kind));
  if (filter.before) conditions.push(lt(auditEvents.id, filter.before));
  const rows = (await ctx.db
    .select({
      id: auditEvents.id,
      at: auditEvents.at,
      kind: auditEvents.kind,
      clientId: auditEvents.clientId,
      clientName: oauthClients.clientName,
      grantId: auditEvents.grantId,
      actor: auditEvents.actor,
      actorEmail: users.email,
      detail: auditEvents.detail,
    })
    .from(auditEvents)
    .leftJoin(oauthClients, eq(oauthClients.id, auditEvents.clientId))
    .leftJoin(users, eq(users.id, auditEvents.actor))
    .where(and(...conditions))
    .orderBy(desc(auditEvents.id))
    .limit(limit + 1));
  const page = rows.slice(0, limit);
  return {
    events: page.map((row) => {
      // A client's name, cleaned of characters the page would not show (decision 031).
      const r = { ...row, clientName: row.clientName === null ? null : displayText(row.clientName) };
      const detail = parseDetail(r.detail);
      const app = r.clientName ?? (r.clientId ? "An application" : "Toolgate");
      const who = actorLabel(r.actor, r.actorEmail, r.clientName);
      return {
        id: r.id,
        at: r.at,
        kind: r.kind,
        clientId: r.clientId,
        clientName: r.clientName,
        grantId: r.grantId,
        actor: r.actor,
        actorLabel: who,
        detail,
        ...describedEvent(r.kind, detail, app, who),
      };
    }),
    nextBefore: rows.length > limit ? page[page.length - 1]!.id : null,
  };
}

export type ActivityApplication = { key: string; name: string; clientIds: string[] };

/** At most this many clients are offered in the Activity filter. */
export const MAX_ACTIVITY_CLIENTS = 500;


/**
 * The applications that appear in a server's events, for the filter: registrations of one
 * application (same name and redirect hosts, or the same metadata-document client id) are one
 * entry, keyed like the Connected applications page. A client since removed is listed by its id.
 */
export async function activityClients(ctx: AppContext, serverId: string): Promise<ActivityApplication[]> {
  const rows = await ctx.store.hot.activityClients(ctx.db, serverId, MAX_ACTIVITY_CLIENTS);
  const byKey = new Map<string, ActivityApplication>();
  for (const r of rows) {
    const key =
      r.name === null || r.kind === null
        ? applicationIdentity({ identifiedBy: "metadata_document", clientId: r.id, applicationName: r.id, redirectHosts: [] })
        : applicationIdentity({ identifiedBy: r.kind, clientId: r.id, applicationName: r.name, redirectHosts: redirectHostsOf(r.redirectUris ?? "[]") });
    const entry = byKey.get(key) ?? { key, name: displayText(r.name ?? r.id), clientIds: [] };
    entry.clientIds.push(r.id);
    byKey.set(key, entry);
  }
  return [...byKey.values()].sort((a, b) => a.name.localeCompare(b.name) || a.key.localeCompare(b.key));
}
