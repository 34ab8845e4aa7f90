/** Writes audit_events rows. `detail` is a small JSON object and never holds secrets or arguments. */
import type { AppContext } from "~/context.server";
import { sha256Hex } from "~/utils/crypto.server";
import type { Tx } from "~/db/store.server";

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

/**
 * The largest detail stored as given. Events name things by id; a detail past this (a long list)
 * is stored as its size and digest, so no writer can make the audit log a copy of its input
 * (docs/decisions/032-bounded-client-storage.md).
 */
export const MAX_AUDIT_DETAIL_CHARS = 4096;

function storedDetail(detail: Record<string, unknown> | undefined): string {
  const text = JSON.stringify(detail ?? {});
  if (text.length <= MAX_AUDIT_DETAIL_CHARS) return text;
  return JSON.stringify({ oversized: true, chars: text.length, sha256: sha256Hex(text) });
}

/** Records an event; inside a transaction, pass its `tx` (the event commits or rolls back with it). */
export function recordAudit(ctx: Pick<AppContext, "store" | "now">, tx: Tx, event: AuditEvent): Promise<void> {
  return ctx.store.hot.insertAuditEvent(tx, {
    at: ctx.now(),
    kind: event.kind,
    serverId: event.serverId ?? null,
    userId: event.userId ?? null,
    clientId: event.clientId ?? null,
    grantId: event.grantId ?? null,
    actor: event.actor ?? null,
    detail: storedDetail(event.detail),
  });
}
