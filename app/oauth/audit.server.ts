/** Writes audit_events rows. `detail` is a small JSON object and never holds secrets or arguments. */
import type { AppContext } from "~/context.server";
import { statement } from "~/db/statements.server";
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
    JSON.stringify(event.detail ?? {}),
  );
}
