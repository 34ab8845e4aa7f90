/**
 * The audit log as people read it: one server's events, newest first, keyset-paginated on id,
 * filterable by client and kind, each with a sentence saying what happened.
 */
import { and, desc, eq, lt, type SQL } from "drizzle-orm";
import type { AppContext } from "~/context.server";
import { displayText } from "~/utils/display-text";
import { auditEvents, oauthClients, users } from "~/db/schema";

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
      return sentence`${app} received new tokens`;
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
export function listActivity(ctx: AppContext, filter: ActivityFilter): ActivityPage {
  const limit = Math.min(Math.max(filter.limit ?? ACTIVITY_PAGE_SIZE, 1), 500);
  const conditions: SQL[] = [eq(auditEvents.serverId, filter.serverId)];
  if (filter.clientId) conditions.push(eq(auditEvents.clientId, filter.clientId));
  if (filter.kind) conditions.push(eq(auditEvents.kind, filter.kind));
  if (filter.before) conditions.push(lt(auditEvents.id, filter.before));
  const rows = ctx.db
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
    .limit(limit + 1)
    .all();
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

/** The clients that appear in a server's events, for the filter. */
export function activityClients(ctx: AppContext, serverId: string): { id: string; name: string }[] {
  return ctx.db
    .selectDistinct({ id: auditEvents.clientId, name: oauthClients.clientName })
    .from(auditEvents)
    .leftJoin(oauthClients, eq(oauthClients.id, auditEvents.clientId))
    .where(eq(auditEvents.serverId, serverId))
    .all()
    .filter((c): c is { id: string; name: string | null } => c.id !== null)
    .map((c) => ({ id: c.id, name: displayText(c.name ?? c.id) }))
    .sort((a, b) => a.name.localeCompare(b.name));
}
