/**
 * Access tokens, refresh tokens and authorization codes: opaque random strings with a recognisable
 * prefix, stored only as SHA-256 hashes (docs/decisions/003-token-format-and-storage.md).
 *
 * Revocation is written onto the token rows themselves (access_tokens.revoked_at), so checking a
 * bearer token is one primary-key read with no joins.
 */
import { and, eq, inArray, isNull } from "drizzle-orm";
import type { McpServerRow } from "~/mcp/granted-tools.server";
import type { AppContext } from "~/context.server";
import type { Tx } from "~/db/store.server";
import { newId, randomToken, sha256Hex } from "~/utils/crypto.server";

export const ACCESS_TOKEN_PREFIX = "tga_";
export const REFRESH_TOKEN_PREFIX = "tgr_";
export const CODE_PREFIX = "tgc_";
export const CLIENT_SECRET_PREFIX = "tgs_";

export type { Tx } from "~/db/store.server";

export const newAccessToken = () => ACCESS_TOKEN_PREFIX + randomToken(32);
export const newRefreshToken = () => REFRESH_TOKEN_PREFIX + randomToken(32);
export const newAuthorizationCode = () => CODE_PREFIX + randomToken(32);
export const newClientSecret = () => CLIENT_SECRET_PREFIX + randomToken(32);

/** The hash under which a bearer secret (token, code, client secret) is stored and looked up. */
export const secretHash = sha256Hex;

export type TokenSubject = {
  grantId: string;
  familyId: string;
  clientId: string;
  userId: string;
  serverId: string;
  scope: string;
  /** False for a client that did not register the refresh_token grant: it gets an access token only. */
  withRefreshToken?: boolean;
  /** RFC 9449: the thumbprint of the DPoP key the access token is bound to. */
  dpopJkt?: string | null;
  /** RFC 9449 §5: bind the refresh token to the same key too (public clients). */
  bindRefreshToken?: boolean;
};

export type IssuedTokens = {
  accessToken: string;
  refreshToken: string | null;
  /** secretHash(refreshToken), as stored. */
  refreshTokenHash: string | null;
  /** Seconds. */
  expiresIn: number;
  scope: string;
  /** "DPoP" for a DPoP-bound access token (RFC 9449 §5), else "Bearer". */
  tokenType: "Bearer" | "DPoP";
};

/** Starts a token family (one per authorization code exchange) under a grant. */
export async function createFamily(ctx: AppContext, tx: Tx, grantId: string): Promise<string> {
  const { tokenFamilies } = ctx.store.tables;
  const id = newId();
  await tx.insert(tokenFamilies).values({ id, grantId, createdAt: ctx.now() });
  return id;
}

/** A new pair, not stored yet: its hashes can be written into a conditional claim first. */
export function newTokenPair(subject: TokenSubject): IssuedTokens {
  const accessToken = newAccessToken();
  const refreshToken = subject.withRefreshToken === false ? null : newRefreshToken();
  return {
    accessToken,
    refreshToken,
    refreshTokenHash: refreshToken === null ? null : secretHash(refreshToken),
    expiresIn: 0,
    scope: subject.scope,
    tokenType: subject.dpopJkt ? "DPoP" : "Bearer",
  };
}

/** Stores a pair from newTokenPair for a family. Call inside a transaction. */
export async function storeTokens(ctx: AppContext, tx: Tx, subject: TokenSubject, pair: IssuedTokens): Promise<IssuedTokens> {
  const now = ctx.now();
  const accessTokenHash = secretHash(pair.accessToken);
  await ctx.store.hot.insertTokens(
    tx,
    {
      tokenHash: accessTokenHash,
      familyId: subject.familyId,
      grantId: subject.grantId,
      clientId: subject.clientId,
      userId: subject.userId,
      serverId: subject.serverId,
      scope: subject.scope,
      createdAt: now,
      expiresAt: now + ctx.config.accessTokenTtlSeconds * 1000,
      dpopJkt: subject.dpopJkt ?? null,
    },
    pair.refreshTokenHash === null
      ? null
      : {
          tokenHash: pair.refreshTokenHash,
          familyId: subject.familyId,
          grantId: subject.grantId,
          clientId: subject.clientId,
          createdAt: now,
          expiresAt: now + ctx.config.refreshTokenTtlSeconds * 1000,
          accessTokenHash,
          dpopJkt: subject.bindRefreshToken ? (subject.dpopJkt ?? null) : null,
        },
  );
  return { ...pair, expiresIn: ctx.config.accessTokenTtlSeconds, tokenType: subject.dpopJkt ? "DPoP" : "Bearer" };
}

/** Mints and stores an access token and a refresh token for a family. Call inside a transaction. */
export function mintTokens(ctx: AppContext, tx: Tx, subject: TokenSubject): Promise<IssuedTokens> {
  return storeTokens(ctx, tx, subject, newTokenPair(subject));
}

export type VerifiedAccessToken = {
  grantId: string;
  familyId: string;
  clientId: string;
  userId: string;
  serverId: string;
  scope: string;
  expiresAt: number;
  /** RFC 9449 cnf.jkt: the DPoP key the token is bound to; null for a plain bearer token. */
  dpopJkt: string | null;
  /** Whether the token's server accepts DPoP-bound tokens only. */
  serverDpopRequired: boolean;
  /** The MCP server the token is bound to, read in the same statement (the endpoint needs it). */
  server: McpServerRow;
};

/**
 * Checks a bearer access token: known, not expired, not revoked. Returns what it grants, or null.
 * The caller checks that `serverId` is the server being called (tokens never cross servers).
 */
export async function verifyAccessToken(ctx: AppContext, token: string): Promise<VerifiedAccessToken | null> {
  if (!token.startsWith(ACCESS_TOKEN_PREFIX) || token.length > 200) return null;
  const row = await ctx.store.hot.accessTokenWithServer(ctx.db, secretHash(token));
  if (!row || row.revokedAt !== null || row.expiresAt <= ctx.now()) return null;
  return {
    grantId: row.grantId,
    familyId: row.familyId,
    clientId: row.clientId,
    userId: row.userId,
    serverId: row.serverId,
    scope: row.scope,
    expiresAt: row.expiresAt,
    dpopJkt: row.dpopJkt,
    serverDpopRequired: row.serverDpopRequired === 1,
    server: {
      id: row.serverId,
      name: row.serverName,
      description: row.serverDescription,
      updatedAt: row.serverUpdatedAt,
      toolsVersion: row.serverToolsVersion,
    },
  };
}

/** Revokes every access and refresh token of the given families. */
export async function revokeFamilies(ctx: AppContext, tx: Tx, familyIds: string[], reason: string): Promise<void> {
  if (familyIds.length === 0) return;
  const { accessTokens, refreshTokens, tokenFamilies } = ctx.store.tables;
  const now = ctx.now();
  await tx
    .update(tokenFamilies)
    .set({ revokedAt: now, revokedReason: reason })
    .where(and(inArray(tokenFamilies.id, familyIds), isNull(tokenFamilies.revokedAt)));
  await tx
    .update(accessTokens)
    .set({ revokedAt: now })
    .where(and(inArray(accessTokens.familyId, familyIds), isNull(accessTokens.revokedAt)));
  await tx
    .update(refreshTokens)
    .set({ revokedAt: now })
    .where(and(inArray(refreshTokens.familyId, familyIds), isNull(refreshTokens.revokedAt)));
}

/** Ends a grant and every token issued under it, at once. */
export async function revokeGrant(ctx: AppContext, tx: Tx, grantId: string, revokedBy: string, reason = "grant_revoked"): Promise<void> {
  const { grants, tokenFamilies } = ctx.store.tables;
  await tx
    .update(grants)
    .set({ revokedAt: ctx.now(), revokedBy })
    .where(and(eq(grants.id, grantId), isNull(grants.revokedAt)));
  const families = (await tx.select({ id: tokenFamilies.id }).from(tokenFamilies).where(eq(tokenFamilies.grantId, grantId))).map((f) => f.id);
  await revokeFamilies(ctx, tx, families, reason);
}
