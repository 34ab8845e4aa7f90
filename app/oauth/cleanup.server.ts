/**
 * Periodic removal of what no longer serves a purpose: idle registered clients without grants,
 * expired pending authorization requests, old authorization codes and long-expired tokens.
 * docs/storage.md lists what each lifetime means.
 */
import { and, eq, lt, notExists, sql } from "drizzle-orm";
import { deleteUnusedLogos } from "./client-logos.server";
import type { AppContext } from "~/context.server";
import { onShutdown } from "~/http/lifecycle.server";
import { accessTokens, authorizationCodes, authorizationRequests, refreshTokens, sessions, tokenFamilies } from "~/db/schema";
import { deleteExpiredShownOnce } from "~/auth/shown-once.server";
import { deleteIdleClients } from "./clients.server";

const DAY = 24 * 3600 * 1000;

export type CleanupReport = {
  clients: number;
  authorizationRequests: number;
  authorizationCodes: number;
  accessTokens: number;
  refreshTokens: number;
  tokenFamilies: number;
  sessions: number;
  clientLogos: number;
  shownOnceSecrets: number;
};

export function runOAuthCleanup(ctx: AppContext): CleanupReport {
  const now = ctx.now();
  return ctx.db.transaction((tx) => {
    const report: CleanupReport = {
      authorizationRequests: tx.delete(authorizationRequests).where(lt(authorizationRequests.expiresAt, now)).run().changes,
      // Used codes are kept a day past expiry so a late replay is still recognised as a replay.
      authorizationCodes: tx.delete(authorizationCodes).where(lt(authorizationCodes.expiresAt, now - DAY)).run().changes,
      // Expired tokens are useless; a day of slack keeps the audit trail readable when debugging.
      accessTokens: tx.delete(accessTokens).where(lt(accessTokens.expiresAt, now - DAY)).run().changes,
      refreshTokens: tx.delete(refreshTokens).where(lt(refreshTokens.expiresAt, now - DAY)).run().changes,
      tokenFamilies: 0,
      clients: 0,
      clientLogos: 0,
      // An expired session is refused at read time already; removing the row keeps the table small.
      sessions: tx.delete(sessions).where(lt(sessions.expiresAt, now)).run().changes,
      // A secret whose page was never opened (app/auth/shown-once.server.ts).
      shownOnceSecrets: deleteExpiredShownOnce(ctx),
    };
    // A family with no token left (all expired and purged) is history; its grant keeps the record.
    report.tokenFamilies = tx
      .delete(tokenFamilies)
      .where(
        and(
          lt(tokenFamilies.createdAt, now - DAY),
          notExists(tx.select({ one: sql`1` }).from(accessTokens).where(eq(accessTokens.familyId, tokenFamilies.id))),
          notExists(tx.select({ one: sql`1` }).from(refreshTokens).where(eq(refreshTokens.familyId, tokenFamilies.id))),
        ),
      )
      .run().changes;
    report.clients = deleteIdleClients(ctx, tx);
    report.clientLogos = deleteUnusedLogos(tx);
    return report;
  });
}

/** Runs the cleanup now and then every `intervalMs`; the timer never keeps the process alive. */
export function startOAuthCleanup(ctx: AppContext, intervalMs = 3600 * 1000): () => void {
  const run = () => {
    try {
      const report = runOAuthCleanup(ctx);
      if (Object.values(report).some((n) => n > 0)) ctx.logger.info("oauth cleanup", report);
    } catch (error) {
      ctx.logger.error("oauth cleanup failed", { error });
    }
  };
  const first = setTimeout(run, 10_000);
  first.unref();
  const timer = setInterval(run, intervalMs);
  timer.unref();
  const stop = () => {
    clearTimeout(first);
    clearInterval(timer);
  };
  // Stopped before the database closes at shutdown, so a run cannot hit a closed connection.
  const removeHook = onShutdown("oauth cleanup", stop);
  return () => {
    removeHook();
    stop();
  };
}
