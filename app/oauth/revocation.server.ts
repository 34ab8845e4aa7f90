/**
 * Token revocation (RFC 7009). The client is already authenticated.
 * An access token ends alone; a refresh token ends its whole family, access tokens included
 * (RFC 7009 §2.1: "SHOULD also invalidate all access tokens based on the same authorization grant").
 */
import { and, eq, isNull } from "drizzle-orm";
import type { AppContext } from "~/context.server";
import { recordAudit } from "./audit.server";
import type { OAuthClient } from "./clients.server";
import { ACCESS_TOKEN_PREFIX, REFRESH_TOKEN_PREFIX, revokeFamilies, secretHash, type Tx } from "./tokens.server";

export type RevocationResult = "revoked" | "unknown" | "not_owned";

async function revokeAccessToken(ctx: AppContext, tx: Tx, client: OAuthClient, hash: string): Promise<RevocationResult | null> {
  const { accessTokens } = ctx.store.tables;
  const row = (await tx.select().from(accessTokens).where(eq(accessTokens.tokenHash, hash)).limit(1))[0];
  if (!row) return null;
  if (row.clientId !== client.id) return "not_owned";
  const changed = await tx
    .update(accessTokens)
    .set({ revokedAt: ctx.now() })
    .where(and(eq(accessTokens.tokenHash, hash), isNull(accessTokens.revokedAt)))
    .returning({ tokenHash: accessTokens.tokenHash });
  if (changed.length > 0) {
    await recordAudit(ctx, tx, {
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

async function revokeRefreshToken(ctx: AppContext, tx: Tx, client: OAuthClient, hash: string): Promise<RevocationResult | null> {
  const { grants, refreshTokens } = ctx.store.tables;
  const row = (await tx.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, hash)).limit(1))[0];
  if (!row) return null;
  if (row.clientId !== client.id) return "not_owned";
  if (row.revokedAt === null) {
    await revokeFamilies(ctx, tx, [row.familyId], "revoked_by_client");
    // Refresh-token rows do not carry the server and user; the grant does (so the event shows on
    // the server's Activity page).
    const grant = (await tx
      .select({ serverId: grants.serverId, userId: grants.userId })
      .from(grants)
      .where(eq(grants.id, row.grantId)).limit(1))[0];
    await recordAudit(ctx, tx, {
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
export function revokeToken(ctx: AppContext, client: OAuthClient, token: string, hint: string | undefined): Promise<RevocationResult> {
  if (token.length > 512) return Promise.resolve("unknown");
  const hash = secretHash(token);
  let order: Array<typeof revokeAccessToken> = hint === "refresh_token" ? [revokeRefreshToken, revokeAccessToken] : [revokeAccessToken, revokeRefreshToken];
  if (token.startsWith(ACCESS_TOKEN_PREFIX)) order = [revokeAccessToken];
  else if (token.startsWith(REFRESH_TOKEN_PREFIX)) order = [revokeRefreshToken];
  return ctx.store.transaction(async (tx) => {
    for (const attempt of order) {
      const result = await attempt(ctx, tx, client, hash);
      if (result) return result;
    }
    return "unknown" as const;
  });
}
