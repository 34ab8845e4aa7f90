/** Audit export: every event (optionally one server's, optionally since a time) as JSON lines, oldest first. */
import { and, asc, eq, gt, gte, type SQL } from "drizzle-orm";
import type { AppContext } from "~/context.server";

export type ExportOptions = { serverId?: string; since?: number; batchSize?: number };

export type ExportedEvent = {
  id: number;
  at: string;
  kind: string;
  serverId: string | null;
  userId: string | null;
  clientId: string | null;
  grantId: string | null;
  actor: string | null;
  detail: unknown;
};

/** Yields events in id order, reading in batches so a large log never sits in memory at once. */
export async function* exportAuditEvents(ctx: AppContext, options: ExportOptions = {}): AsyncGenerator<ExportedEvent> {
  const { auditEvents } = ctx.store.tables;
  const batchSize = options.batchSize ?? 1000;
  let afterId = 0;
  for (;;) {
    const conditions: SQL[] = [gt(auditEvents.id, afterId)];
    if (options.serverId) conditions.push(eq(auditEvents.serverId, options.serverId));
    if (options.since !== undefined) conditions.push(gte(auditEvents.at, options.since));
    const rows = (await ctx.db
      .select()
      .from(auditEvents)
      .where(and(...conditions))
      .orderBy(asc(auditEvents.id))
      .limit(batchSize));
    for (const r of rows) {
      let detail: unknown = {};
      try {
        detail = JSON.parse(r.detail);
      } catch {
        detail = { raw: r.detail };
      }
      yield {
        id: r.id,
        at: new Date(r.at).toISOString(),
        kind: r.kind,
        serverId: r.serverId,
        userId: r.userId,
        clientId: r.clientId,
        grantId: r.grantId,
        actor: r.actor,
        detail,
      };
    }
    if (rows.length < batchSize) return;
    afterId = rows[rows.length - 1]!.id;
  }
}

/** Parses --since: an ISO 8601 date or date-time. Throws with a message naming the option. */
export function parseSince(value: string): number {
  if (!/^\d{4}-\d{2}-\d{2}/.test(value)) throw new Error(`--since must be an ISO 8601 date or time, e.g. 2026-01-31T00:00:00Z (got "${value}")`);
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new Error(`--since must be an ISO 8601 date or time, e.g. 2026-01-31T00:00:00Z (got "${value}")`);
  return ms;
}
