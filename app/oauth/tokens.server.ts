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
import type { Db } from "~/db/client.server";
import { accessTokens, grants, refreshTokens, tokenFamilies } from "~/db/schema";
import { statement } from "~/db/statements.server";
import { newId, randomToken, sha256Hex } from "~/utils/crypto.server";

export const ACCESS_TOKEN_PREFIX = "tga_";
export const REFRESH_TOKEN_PREFIX = "tgr_";
export const CODE_PREFIX = "tgc_";
export const CLIENT_SECRET_PREFIX = "tgs_";

/** Drizzle's transaction object and the database share this interface. */
export type Tx = Pick<Db, "select" | "insert" | "update" | "delete">;

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
};

export type IssuedTokens = {
  accessToken: string;
  refreshToken: string | null;
  /** secretHash(refreshToken), as stored. */
  refreshTokenHash: string | null;
  /** Seconds. */
  expiresIn: number;
  scope: string;
};

/** Starts a token family (one per authorization code exchange) under a grant. */
export function createFamily(ctx: AppContext, tx: Tx, grantId: string): string {
  const id = newId();
  tx.insert(tokenFamilies).values({ id, grantId, createdAt: ctx.now() }).run();
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
  };
}

/** Stores a pair from newTokenPair for a family. Call inside a transaction. */
export function storeTokens(ctx: AppContext, _tx: Tx, subject: TokenSubject, pair: IssuedTokens): IssuedTokens {
  const now = ctx.now();
  const accessTokenHash = secretHash(pair.accessToken);
  // Prepared statements on ctx.db's connection, which the caller's transaction `_tx` runs on
  // (app/db/statements.server.ts).
  statement(
    ctx.db,
    `insert into access_tokens (token_hash, family_id, grant_id, client_id, user_id, server_id, scope, created_at, expires_at)
     values (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    accessTokenHash,
    subject.familyId,
    subject.grantId,
    subject.clientId,
    subject.userId,
    subject.serverId,
    subject.scope,
    now,
    now + ctx.config.accessTokenTtlSeconds * 1000,
  );
  if (pair.refreshTokenHash !== null) {
    statement(
      ctx.db,
      `insert into refresh_tokens (token_hash, family_id, grant_id, client_id, created_at, expires_at, access_token_hash)
       values (?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      pair.refreshTokenHash,
      subject.familyId,
      subject.grantId,
      subject.clientId,
      now,
      now + ctx.config.refreshTokenTtlSeconds * 1000,
      accessTokenHash,
    );
  }
  return { ...pair, expiresIn: ctx.config.accessTokenTtlSeconds };
}

/** Mints and stores an access token and a refresh token for a family. Call inside a transaction. */
export function mintTokens(ctx: AppContext, tx: Tx, subject: TokenSubject): IssuedTokens {
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
  /** The MCP server the token is bound to, read in the same statement (the endpoint needs it). */
  server: McpServerRow;
};

/**
 * Checks a bearer access token: known, not expired, not revoked. Returns what it grants, or null.
 * The caller checks that `serverId` is the server being called (tokens never cross servers).
 */
export function verifyAccessToken(ctx: AppContext, token: string): VerifiedAccessToken | null {
  if (!token.startsWith(ACCESS_TOKEN_PREFIX) || token.length > 200) return null;
  const row = statement<[string], AccessTokenRow>(ctx.db, ACCESS_TOKEN_ROW).get(secretHash(token));
  if (!row || row.revokedAt !== null || row.expiresAt <= ctx.now()) return null;
  return {
    grantId: row.grantId,
    familyId: row.familyId,
    clientId: row.clientId,
    userId: row.userId,
    serverId: row.serverId,
    scope: row.scope,
    expiresAt: row.expiresAt,
    server: {
      id: row.serverId,
      name: row.serverName,
      description: row.serverDescription,
      updatedAt: row.serverUpdatedAt,
      toolsVersion: row.serverToolsVersion,
    },
  };
}

type AccessTokenRow = Omit<VerifiedAccessToken, "server"> & {
  revokedAt: number | null;
  serverName: string;
  serverDescription: string;
  serverUpdatedAt: number;
  serverToolsVersion: number;
};

// The bearer check runs on every MCP request: one primary-key read through a statement prepared
// once per database connection, on better-sqlite3 directly (the query builder's row mapping cost
// more than the read itself). The token's server comes with it (a second primary-key lookup in the
// same statement), so the endpoint needs no read of its own on the way to an answer.
const ACCESS_TOKEN_ROW = `select a.grant_id as grantId, a.family_id as familyId, a.client_id as clientId, a.user_id as userId,
        a.server_id as serverId, a.scope, a.expires_at as expiresAt, a.revoked_at as revokedAt,
        s.name as serverName, s.description as serverDescription, s.updated_at as serverUpdatedAt,
        s.tools_version as serverToolsVersion
   from access_tokens a join mcp_servers s on s.id = a.server_id
  where a.token_hash = ?`;

/** Revokes every access and refresh token of the given families. */
export function revokeFamilies(ctx: AppContext, tx: Tx, familyIds: string[], reason: string): void {
  if (familyIds.length === 0) return;
  const now = ctx.now();
  tx.update(tokenFamilies)
    .set({ revokedAt: now, revokedReason: reason })
    .where(and(inArray(tokenFamilies.id, familyIds), isNull(tokenFamilies.revokedAt)))
    .run();
  tx.update(accessTokens)
    .set({ revokedAt: now })
    .where(and(inArray(accessTokens.familyId, familyIds), isNull(accessTokens.revokedAt)))
    .run();
  tx.update(refreshTokens)
    .set({ revokedAt: now })
    .where(and(inArray(refreshTokens.familyId, familyIds), isNull(refreshTokens.revokedAt)))
    .run();
}

/** Ends a grant and every token issued under it, at once. */
export function revokeGrant(ctx: AppContext, tx: Tx, grantId: string, revokedBy: string, reason = "grant_revoked"): void {
  tx.update(grants)
    .set({ revokedAt: ctx.now(), revokedBy })
    .where(and(eq(grants.id, grantId), isNull(grants.revokedAt)))
    .run();
  const families = tx
    .select({ id: tokenFamilies.id })
    .from(tokenFamilies)
    .where(eq(tokenFamilies.grantId, grantId))
    .all()
    .map((f) => f.id);
  revokeFamilies(ctx, tx, families, reason);
}
