/** Writes audit_events rows. `detail` is a small JSON object and never holds secrets or arguments. */
import type { AppContext } from "~/context.server";
import { statement } from "~/db/statements.server";
import { sha256Hex } from "~/utils/crypto.server";
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

export function recordAudit(ctx: AppContext, _tx: Tx, event: AuditEvent): void {
  // A prepared statement on ctx.db's connection, the one every transaction runs on, so it takes
  // part in the caller's transaction when there is one (`tx` names it; nothing else is needed).
  statement(
    ctx.db,
    "insert into audit_events (at, kind, server_id, user_id, client_id, grant_id, actor, detail) values (?, ?, ?, ?, ?, ?, ?, ?)",
  ).run(
    ctx.now(),
    event.kind,
    event.serverId ?? null,
    event.userId ?? null,
    event.clientId ?? null,
    event.grantId ?? null,
    event.actor ?? null,
    storedDetail(event.detail),
  );
}
