/**
 * Periodic removal of what no longer serves a purpose: idle registered clients without grants,
 * expired pending authorization requests, old authorization codes and long-expired tokens.
 * docs/storage.md lists what each lifetime means.
 */
import { and, eq, lt, notExists, sql } from "drizzle-orm";
import { deleteUnusedLogos } from "./client-logos.server";
import type { AppContext } from "~/context.server";
import { onShutdown } from "~/http/lifecycle.server";
import { deleteExpiredShownOnce } from "~/auth/shown-once.server";
import { deleteIdleClients } from "./clients.server";
import { deleteExpiredReplayKeys } from "./replay-guard.server";

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
  replayKeys: number;
  rateLimitBuckets: number;
};

/** A rate-limit bucket untouched this long is full again (every limit refills within minutes). */
const IDLE_BUCKET_MS = 3600 * 1000;

export async function runOAuthCleanup(ctx: AppContext): Promise<CleanupReport> {
  const { accessTokens, authorizationCodes, authorizationRequests, refreshTokens, sessions, tokenFamilies } = ctx.store.tables;
  const now = ctx.now();
  return ctx.store.transaction(async (tx) => {
    const report: CleanupReport = {
      authorizationRequests: (await tx.delete(authorizationRequests).where(lt(authorizationRequests.expiresAt, now)).returning({ id: authorizationRequests.id })).length,
      // Used codes are kept a day past expiry so a late replay is still recognised as a replay.
      authorizationCodes: (await tx.delete(authorizationCodes).where(lt(authorizationCodes.expiresAt, now - DAY)).returning({ h: authorizationCodes.codeHash })).length,
      // Expired tokens are useless; a day of slack keeps the audit trail readable when debugging.
      accessTokens: (await tx.delete(accessTokens).where(lt(accessTokens.expiresAt, now - DAY)).returning({ h: accessTokens.tokenHash })).length,
      refreshTokens: (await tx.delete(refreshTokens).where(lt(refreshTokens.expiresAt, now - DAY)).returning({ h: refreshTokens.tokenHash })).length,
      tokenFamilies: 0,
      clients: 0,
      clientLogos: 0,
      // An expired session is refused at read time already; removing the row keeps the table small.
      sessions: (await tx.delete(sessions).where(lt(sessions.expiresAt, now)).returning({ id: sessions.id })).length,
      // A secret whose page was never opened (app/auth/shown-once.server.ts).
      shownOnceSecrets: await deleteExpiredShownOnce(ctx, tx),
      // One-time jtis past their expiry: the values they guard are refused as expired already.
      replayKeys: await deleteExpiredReplayKeys(ctx, tx),
      // Shared buckets (PostgreSQL) of addresses gone quiet: a missing bucket is a full one.
      rateLimitBuckets: await ctx.store.hot.deleteIdleRateLimitBuckets(tx, now - IDLE_BUCKET_MS),
    };
    // A family with no token left (all expired and purged) is history; its grant keeps the record.
    report.tokenFamilies = (
      await tx
        .delete(tokenFamilies)
        .where(
          and(
            lt(tokenFamilies.createdAt, now - DAY),
            notExists(tx.select({ one: sql`1` }).from(accessTokens).where(eq(accessTokens.familyId, tokenFamilies.id))),
            notExists(tx.select({ one: sql`1` }).from(refreshTokens).where(eq(refreshTokens.familyId, tokenFamilies.id))),
          ),
        )
        .returning({ id: tokenFamilies.id })
    ).length;
    report.clients = await deleteIdleClients(ctx, tx);
    report.clientLogos = await deleteUnusedLogos(ctx, tx);
    return report;
  });
}

/** Runs the cleanup now and then every `intervalMs`; the timer never keeps the process alive. */
export function startOAuthCleanup(ctx: AppContext, intervalMs = 3600 * 1000): () => void {
  let running: Promise<void> | null = null;
  const run = () => {
    // One run at a time; the shutdown hook waits for the one in progress.
    if (running) return;
    running = runOAuthCleanup(ctx)
      .then((report) => {
        if (Object.values(report).some((n) => n > 0)) ctx.logger.info("oauth cleanup", report);
      })
      .catch((error: unknown) => {
        ctx.logger.error("oauth cleanup failed", { error });
      })
      .finally(() => {
        running = null;
      });
  };
  const first = setTimeout(run, 10_000);
  first.unref();
  const timer = setInterval(run, intervalMs);
  timer.unref();
  const stop = () => {
    clearTimeout(first);
    clearInterval(timer);
    return running ?? undefined;
  };
  // Stopped (and the run in progress finished) before the database closes at shutdown, so a run
  // cannot hit a closed connection.
  const removeHook = onShutdown("oauth cleanup", stop);
  return () => {
    removeHook();
    void stop();
  };
}
