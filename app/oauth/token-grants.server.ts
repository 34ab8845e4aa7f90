/**
 * The grants of the token endpoint: authorization_code (with PKCE) and refresh_token (with rotation).
 * Each is a pipeline of small checks; every check names the rule it enforces.
 *
 * All reads and writes of one exchange run in one better-sqlite3 transaction. better-sqlite3 is
 * synchronous, so a transaction runs to completion before any other request touches the database:
 * 50 concurrent redemptions of one code see exactly one unused code. The conditional UPDATEs
 * (`... WHERE used_at IS NULL`) keep that true even if this ever ran on several connections.
 * The client's "last used" is written in the same transaction (one commit per exchange).
 */
import { createHash } from "node:crypto";
import { and, eq, isNull } from "drizzle-orm";
import type { AppContext } from "~/context.server";
import type { PresentedRefreshRow } from "~/db/hot.server";
import { safeEqual } from "~/utils/crypto.server";
import { noteGrantUsed } from "~/mcp/last-used.server";
import { recordAudit } from "./audit.server";
import { touchClient, type OAuthClient } from "./clients.server";
import { OAuthError } from "./errors.server";
import { isOriginResource, mcpResourceUrl } from "./metadata.server";
import { dpopBinding, refreshBindingProblem } from "./dpop.server";
import type { FormParams } from "./request-parsing.server";
import { requireParam } from "./request-parsing.server";
import {
  createFamily,
  mintTokens,
  newTokenPair,
  REFRESH_TOKEN_PREFIX,
  revokeFamilies,
  revokeGrant,
  secretHash,
  storeTokens,
  type IssuedTokens,
  type Tx,
} from "./tokens.server";

/** The token response body (RFC 6749 §5.1). */
export function tokenResponseBody(tokens: IssuedTokens) {
  return {
    access_token: tokens.accessToken,
    // RFC 9449 §5: a DPoP-bound token is announced as such.
    token_type: tokens.tokenType,
    expires_in: tokens.expiresIn,
    ...(tokens.refreshToken !== null ? { refresh_token: tokens.refreshToken } : {}),
    scope: tokens.scope,
  };
}

type Outcome = { ok: true; tokens: IssuedTokens } | { ok: false; error: OAuthError };

/**
 * Runs `work` in a transaction that also marks the authenticated client as used; a failure that
 * must still commit (a revocation) is returned, not thrown. Statements and Drizzle queries on
 * ctx.db (`tx`) run on the transaction's connection.
 */
async function inTransaction(ctx: AppContext, client: OAuthClient, work: (tx: Tx) => Promise<Outcome>): Promise<IssuedTokens> {
  // Committed together with the other grants of this event-loop turn; answered after the commit.
  const outcome = await ctx.store.groupTransaction(async (tx) => {
    await touchClient(ctx, client.id, tx);
    return work(tx);
  });
  if (!outcome.ok) throw outcome.error;
  return outcome.tokens;
}

/**
 * Runs a grant; when it throws (before its transaction, or rolling it back), the client that
 * authenticated is still marked as used, as it is when the grant succeeds or fails with a commit.
 */
async function touchingClient(ctx: AppContext, client: OAuthClient, grant: () => Promise<IssuedTokens>): Promise<IssuedTokens> {
  try {
    return await grant();
  } catch (error) {
    await touchClient(ctx, client.id);
    throw error;
  }
}

const invalidGrant = (description: string, detail?: string) => new OAuthError("invalid_grant", description, 400, detail);

/** RFC 7636 §4.1: 43 to 128 characters of [A-Z a-z 0-9 - . _ ~]. */
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

/** RFC 7636 §4.6: BASE64URL(SHA256(code_verifier)) == code_challenge, compared in constant time. */
function checkPkce(verifier: string, challenge: string): void {
  if (!VERIFIER.test(verifier)) {
    throw new OAuthError("invalid_request", "The code_verifier must be 43 to 128 characters from [A-Za-z0-9-._~]");
  }
  const computed = createHash("sha256").update(verifier, "ascii").digest("base64url");
  if (!safeEqual(computed, challenge)) throw invalidGrant("The code_verifier does not match the code_challenge");
}

/**
 * RFC 8707 §2: a resource sent at the token endpoint must be the one the grant is for. The origin
 * itself (the resource of the path-less protected resource metadata) is accepted too: a client that
 * authorized with it let the user pick the server, and repeats it here as the MCP spec asks; the
 * tokens stay bound to the one server the user picked.
 */
function checkResource(ctx: AppContext, params: FormParams, expected: string): void {
  const resource = params.get("resource");
  if (resource !== undefined && resource !== expected && !isOriginResource(ctx, resource)) {
    throw new OAuthError("invalid_target", "The resource does not match the resource this grant is for");
  }
}

/** The active grant, or null when the user revoked it. Runs inside the caller's transaction. */
async function activeGrant(ctx: AppContext, tx: Tx, grantId: string) {
  const grant = await ctx.store.hot.grantById(tx, grantId);
  if (!grant || grant.revokedAt !== null) return null;
  return grant;
}



/**
 * authorization_code grant (RFC 6749 §4.1.3, OAuth 2.1 §4.1.3, RFC 7636 §4.5).
 * The client is already authenticated.
 */
export async function exchangeAuthorizationCode(
  ctx: AppContext,
  client: OAuthClient,
  params: FormParams,
  dpopJkt: string | null = null,
): Promise<IssuedTokens> {
  return touchingClient(ctx, client, () => exchangeCode(ctx, client, params, dpopJkt));
}

async function exchangeCode(ctx: AppContext, client: OAuthClient, params: FormParams, dpopJkt: string | null): Promise<IssuedTokens> {
  const code = requireParam(params, "code");
  const verifier = requireParam(params, "code_verifier");
  const redirectUri = params.get("redirect_uri");
  const now = ctx.now();

  const { authorizationCodes, grants } = ctx.store.tables;
  return inTransaction(ctx, client, async (tx) => {
    const row = (await tx.select().from(authorizationCodes).where(eq(authorizationCodes.codeHash, secretHash(code))).limit(1))[0];
    if (!row) return { ok: false, error: invalidGrant("The authorization code is invalid", "unknown code") };
    // RFC 6749 §4.1.3: the code must have been issued to the authenticated client.
    if (row.clientId !== client.id) {
      return { ok: false, error: invalidGrant("The authorization code is invalid", "code of another client") };
    }
    // RFC 6749 §10.5 / OAuth 2.1 §4.1.3: a second use fails and revokes what the first use issued.
    if (row.usedAt !== null) {
      if (row.familyId) await revokeFamilies(ctx, tx, [row.familyId], "code_reuse");
      await recordAudit(ctx, tx, {
        kind: "code.reuse_detected",
        serverId: row.serverId,
        userId: row.userId,
        clientId: row.clientId,
        grantId: row.grantId,
        actor: `client:${client.id}`,
        detail: { familyId: row.familyId },
      });
      return { ok: false, error: invalidGrant("The authorization code was already used", "code replay") };
    }
    if (row.expiresAt <= now) return { ok: false, error: invalidGrant("The authorization code expired") };
    // RFC 6749 §4.1.3: redirect_uri must be identical when the authorization request included it.
    if (row.redirectUriProvided && redirectUri === undefined) {
      throw new OAuthError("invalid_request", "The redirect_uri parameter is required");
    }
    if (redirectUri !== undefined && redirectUri !== row.redirectUri) {
      return { ok: false, error: invalidGrant("The redirect_uri does not match the authorization request") };
    }
    checkPkce(verifier, row.codeChallenge);
    await checkResource(ctx, params, row.resource);
    const grant = await activeGrant(ctx, tx, row.grantId);
    if (!grant) return { ok: false, error: invalidGrant("The authorization was revoked") };

    // Single use, atomically: only the request that flips used_at gets tokens.
    const claimed = await tx
      .update(authorizationCodes)
      .set({ usedAt: now })
      .where(and(eq(authorizationCodes.codeHash, row.codeHash), isNull(authorizationCodes.usedAt)))
      .returning({ codeHash: authorizationCodes.codeHash });
    if (claimed.length !== 1) return { ok: false, error: invalidGrant("The authorization code was already used") };

    const familyId = await createFamily(ctx, tx, row.grantId);
    await tx.update(authorizationCodes).set({ familyId }).where(eq(authorizationCodes.codeHash, row.codeHash));
    const tokens = await mintTokens(ctx, tx, {
      grantId: row.grantId,
      familyId,
      clientId: row.clientId,
      userId: row.userId,
      serverId: row.serverId,
      scope: row.scope,
      // RFC 7591 §2: a client that registered without the refresh_token grant does not get one.
      withRefreshToken: client.grantTypes.includes("refresh_token"),
      ...dpopBinding(client, dpopJkt),
    });
    await tx.update(grants).set({ lastUsedAt: now }).where(eq(grants.id, row.grantId));
    await recordAudit(ctx, tx, {
      kind: "token.issued",
      serverId: row.serverId,
      userId: row.userId,
      clientId: row.clientId,
      grantId: row.grantId,
      actor: `client:${client.id}`,
      detail: { grantType: "authorization_code", familyId, scope: row.scope },
    });
    return { ok: true, tokens };
  });
}

/** RFC 6749 §6: a requested scope must be covered by the original grant; absent means the same. */
function narrowScope(params: FormParams, granted: string): string {
  const requested = params.get("scope");
  if (requested === undefined) return granted;
  const allowed = new Set(granted.split(" ").filter(Boolean));
  const asked = [...new Set(requested.split(" ").filter(Boolean))];
  if (asked.length === 0 || asked.some((s) => !allowed.has(s))) {
    throw new OAuthError("invalid_scope", "The requested scope exceeds the scope originally granted");
  }
  return asked.join(" ");
}

/**
 * refresh_token grant (RFC 6749 §6, OAuth 2.1 §4.3.1, RFC 9700 §4.14.2): rotation on every use,
 * a grace window for a retry with the just-replaced token, reuse detection that ends the grant
 * (docs/decisions/004-refresh-rotation-and-grace.md).
 */
export async function refreshTokenGrant(
  ctx: AppContext,
  client: OAuthClient,
  params: FormParams,
  dpopJkt: string | null = null,
): Promise<IssuedTokens> {
  return touchingClient(ctx, client, () => rotateRefreshToken(ctx, client, params, dpopJkt));
}


/** How often a refresh re-reads its token after a conditional write found the row changed. */
const MAX_ROTATION_ATTEMPTS = 3;

async function rotateRefreshToken(ctx: AppContext, client: OAuthClient, params: FormParams, dpopJkt: string | null): Promise<IssuedTokens> {
  // RFC 6749 §5.2 unauthorized_client: the client did not register this grant type (RFC 7591 §2).
  if (!client.grantTypes.includes("refresh_token")) {
    throw new OAuthError("unauthorized_client", "This client is not registered for the refresh_token grant");
  }
  const presented = requireParam(params, "refresh_token");
  if (!presented.startsWith(REFRESH_TOKEN_PREFIX)) throw invalidGrant("The refresh token is invalid", "unknown refresh token");
  const presentedHash = secretHash(presented);

  return inTransaction(ctx, client, async (tx) => {
    // Every attempt decides on a fresh read and writes only through conditional claims; a claim
    // that finds the row changed (another request won it) leaves nothing written and decides again.
    for (let attempt = 1; ; attempt++) {
      const outcome = await tryRotation(ctx, client, params, tx, presentedHash, dpopJkt);
      if (outcome !== "state_moved") return outcome;
      if (attempt >= MAX_ROTATION_ATTEMPTS) throw new Error("refresh token kept changing under concurrent requests");
    }
  });
}

/**
 * One decision on a presented refresh token (docs/decisions/004): a live token rotates; a token
 * rotated moments ago whose successor was never used is a retry and replaces that successor, so
 * only the newest successor is live; anything else that was superseded is reuse and ends the grant.
 */
async function tryRotation(
  ctx: AppContext,
  client: OAuthClient,
  params: FormParams,
  tx: Tx,
  presentedHash: string,
  dpopJkt: string | null,
): Promise<Outcome | "state_moved"> {
  const now = ctx.now();
  // The token, its family and its grant in one read (three primary-key lookups).
  const row = await ctx.store.hot.presentedRefreshToken(tx, presentedHash);
  if (!row) return { ok: false, error: invalidGrant("The refresh token is invalid", "unknown refresh token") };
  // RFC 6749 §6: the refresh token must have been issued to the authenticated client.
  if (row.clientId !== client.id) {
    return { ok: false, error: invalidGrant("The refresh token is invalid", "refresh token of another client") };
  }
  // A missing or revoked family, a missing or revoked grant: the token no longer stands for anything.
  if (!row.familyFound || row.familyRevokedAt !== null || row.grantUserId === null || row.grantRevokedAt !== null) {
    return { ok: false, error: invalidGrant("The refresh token was revoked") };
  }
  const grant = { userId: row.grantUserId, serverId: row.grantServerId!, scope: row.grantScope! };
  // A successor replaced by a retry of its predecessor: someone else holds the newer one.
  if (row.supersededAt !== null) return reuseDetected(ctx, tx, client, row, grant, now, "superseded");
  if (row.revokedAt !== null) return { ok: false, error: invalidGrant("The refresh token was revoked") };
  if (row.expiresAt <= now) return { ok: false, error: invalidGrant("The refresh token expired") };
  const unbound = refreshBindingProblem(row.dpopJkt, dpopJkt);
  if (unbound) return { ok: false, error: invalidGrant(unbound) };
  await checkResource(ctx, params, mcpResourceUrl(ctx, grant.serverId));
  const scope = narrowScope(params, grant.scope);
  const subject = {
    grantId: row.grantId,
    familyId: row.familyId,
    clientId: row.clientId,
    userId: grant.userId,
    serverId: grant.serverId,
    scope,
    ...dpopBinding(client, dpopJkt),
  };
  const pair = newTokenPair(subject);

  if (row.rotatedAt === null) {
    if (!(await ctx.store.hot.claimRotation(tx, row.tokenHash, pair.refreshTokenHash!, now))) return "state_moved";
  } else {
    // Already exchanged. Within the grace window, and while its successor was never used, this is
    // a retry (a lost response, requests racing). Otherwise it is reuse of a stolen or leaked token
    // (RFC 9700 §4.14.2).
    const successor = row.replacedBy ? await ctx.store.hot.refreshToken(tx, row.replacedBy) : undefined;
    const withinGrace = now - row.rotatedAt <= ctx.config.refreshGraceSeconds * 1000;
    const successorUnused = successor !== undefined && successor.rotatedAt === null && successor.revokedAt === null;
    if (!withinGrace || !successorUnused) return reuseDetected(ctx, tx, client, row, grant, now, "rotated");
    // The retry's answer replaces the successor: it is revoked with its access token before the
    // new pair exists, so the family never has two live chains.
    if (!(await ctx.store.hot.claimSupersession(tx, successor.tokenHash, now))) return "state_moved";
    if (successor.accessTokenHash !== null) await ctx.store.hot.revokeAccessToken(tx, successor.accessTokenHash, now);
    // rotated_at keeps the first rotation's time: retries never extend the window.
    if (!(await ctx.store.hot.repointSuccessor(tx, row.tokenHash, successor.tokenHash, pair.refreshTokenHash!))) throw new Error("refresh token row changed during its own transaction");
  }
  const tokens = await storeTokens(ctx, tx, subject, pair);
  // Informational "last used": batched like the MCP endpoint's uses (no grants page written per refresh).
  noteGrantUsed(ctx, row.grantId);
  await recordAudit(ctx, tx, {
    kind: "token.refreshed",
    serverId: grant.serverId,
    userId: grant.userId,
    clientId: row.clientId,
    grantId: row.grantId,
    actor: `client:${client.id}`,
    detail: { familyId: row.familyId, scope, ...(row.rotatedAt !== null ? { graceRetry: true } : {}) },
  });
  return { ok: true, tokens };
}

/** Reuse of a superseded refresh token (RFC 9700 §4.14.2): the whole grant ends. */
async function reuseDetected(
  ctx: AppContext,
  tx: Tx,
  client: OAuthClient,
  row: PresentedRefreshRow,
  grant: { userId: string; serverId: string },
  now: number,
  how: "rotated" | "superseded",
): Promise<Outcome> {
  await revokeGrant(ctx, tx, row.grantId, "system", "refresh_token_reuse");
  const since = how === "rotated" ? row.rotatedAt! : row.supersededAt!;
  await recordAudit(ctx, tx, {
    kind: "refresh.reuse_detected",
    serverId: grant.serverId,
    userId: grant.userId,
    clientId: row.clientId,
    grantId: row.grantId,
    actor: `client:${client.id}`,
    detail: { familyId: row.familyId, token: how, secondsSinceReplaced: Math.round((now - since) / 1000) },
  });
  const description =
    how === "rotated"
      ? "The refresh token was already used; the authorization was revoked"
      : "The refresh token was replaced by a later refresh; the authorization was revoked";
  return { ok: false, error: invalidGrant(description) };
}
