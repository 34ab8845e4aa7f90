/** Writes audit_events rows. `detail` is a small JSON object and never holds secrets or arguments. */
import type { AppContext } from "~/context.server";
import { auditEvents } from "~/db/schema";
import type { Tx } from "./tokens.server";

export type AuditEvent = {
  /** e.g. "token.issued", "token.refreshed", "token.revoked", "refresh.reuse_detected", "client.registered". */
  kind: string;
  serverId?: string | null;
  userId?: string | null;
  clientId?: string | null;
  grantId?: string | null;
  /** A user id, "client:<id>" or "system". */
  actor?: string | null;
  detail?: Record<string, unknown>;
};

export function recordAudit(ctx: AppContext, tx: Tx, event: AuditEvent): void {
  tx.insert(auditEvents)
    .values({
      at: ctx.now(),
      kind: event.kind,
      serverId: event.serverId ?? null,
      userId: event.userId ?? null,
      clientId: event.clientId ?? null,
      grantId: event.grantId ?? null,
      actor: event.actor ?? null,
      detail: JSON.stringify(event.detail ?? {}),
    })
    .run();
}
