/**
 * Token revocation (RFC 7009). The client is already authenticated.
 * An access token ends alone; a refresh token ends its whole family, access tokens included
 * (RFC 7009 §2.1: "SHOULD also invalidate all access tokens based on the same authorization grant").
 */
import { and, eq, isNull } from "drizzle-orm";
import type { AppContext } from "~/context.server";
import { accessTokens, grants, refreshTokens } from "~/db/schema";
import { recordAudit } from "./audit.server";
import type { OAuthClient } from "./clients.server";
import { ACCESS_TOKEN_PREFIX, REFRESH_TOKEN_PREFIX, revokeFamilies, secretHash, type Tx } from "./tokens.server";

export type RevocationResult = "revoked" | "unknown" | "not_owned";

function revokeAccessToken(ctx: AppContext, tx: Tx, client: OAuthClient, hash: string): RevocationResult | null {
  const row = tx.select().from(accessTokens).where(eq(accessTokens.tokenHash, hash)).get();
  if (!row) return null;
  if (row.clientId !== client.id) return "not_owned";
  const changed = tx
    .update(accessTokens)
    .set({ revokedAt: ctx.now() })
    .where(and(eq(accessTokens.tokenHash, hash), isNull(accessTokens.revokedAt)))
    .run().changes;
  if (changed) {
    recordAudit(ctx, tx, {
      kind: "token.revoked",
      serverId: row.serverId,
      userId: row.userId,
      clientId: row.clientId,
      grantId: row.grantId,
      actor: `client:${client.id}`,
      detail: { tokenType: "access_token", familyId: row.familyId },
    });
  }
  return "revoked";
}

function revokeRefreshToken(ctx: AppContext, tx: Tx, client: OAuthClient, hash: string): RevocationResult | null {
  const row = tx.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, hash)).get();
  if (!row) return null;
  if (row.clientId !== client.id) return "not_owned";
  if (row.revokedAt === null) {
    revokeFamilies(ctx, tx, [row.familyId], "revoked_by_client");
    // Refresh-token rows do not carry the server and user; the grant does (so the event shows on
    // the server's Activity page).
    const grant = tx
      .select({ serverId: grants.serverId, userId: grants.userId })
      .from(grants)
      .where(eq(grants.id, row.grantId))
      .get();
    recordAudit(ctx, tx, {
      kind: "token.revoked",
      serverId: grant?.serverId,
      userId: grant?.userId,
      clientId: row.clientId,
      grantId: row.grantId,
      actor: `client:${client.id}`,
      detail: { tokenType: "refresh_token", familyId: row.familyId },
    });
  }
  return "revoked";
}

/**
 * Revokes `token` when it belongs to `client`. The hint only orders the lookups (RFC 7009 §2.1);
 * our prefixes usually decide it anyway. Unknown tokens and tokens of other clients change nothing,
 * and the endpoint answers 200 for both (RFC 7009 §2.2), so it is no oracle for other clients' tokens.
 */
export function revokeToken(ctx: AppContext, client: OAuthClient, token: string, hint: string | undefined): RevocationResult {
  if (token.length > 512) return "unknown";
  const hash = secretHash(token);
  let order: Array<typeof revokeAccessToken> = hint === "refresh_token" ? [revokeRefreshToken, revokeAccessToken] : [revokeAccessToken, revokeRefreshToken];
  if (token.startsWith(ACCESS_TOKEN_PREFIX)) order = [revokeAccessToken];
  else if (token.startsWith(REFRESH_TOKEN_PREFIX)) order = [revokeRefreshToken];
  return ctx.db.transaction((tx) => {
    for (const attempt of order) {
      const result = attempt(ctx, tx, client, hash);
      if (result) return result;
    }
    return "unknown" as const;
  });
}
