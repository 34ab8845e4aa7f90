/**
 * The client_credentials grant (RFC 6749 §4.4; the MCP OAuth Client Credentials extension) for
 * machine clients (app/oauth/machine-clients.server.ts). The client is already authenticated (its
 * assertion or secret). The token acts for the owner who created the client, on that one server,
 * with the tools the owner chose; it has no refresh token (RFC 6749 §4.4.3).
 */
import type { AppContext } from "~/context.server";
import { recordAudit } from "./audit.server";
import { touchClient, type OAuthClient } from "./clients.server";
import { OAuthError } from "./errors.server";
import { mcpResourceUrl, SUPPORTED_SCOPES } from "./metadata.server";
import type { FormParams } from "./request-parsing.server";
import { createFamily, mintTokens, type IssuedTokens } from "./tokens.server";

export const CLIENT_CREDENTIALS_GRANT = "client_credentials";

/** Issues an access token to a machine client; `dpopJkt` binds it to a DPoP key (RFC 9449). */
export async function clientCredentialsGrant(
  ctx: AppContext,
  client: OAuthClient,
  params: FormParams,
  dpopJkt: string | null,
): Promise<IssuedTokens> {
  // RFC 6749 §5.2: only a machine client (an owner-made one) may use this grant.
  if (client.kind !== "machine") {
    await touchClient(ctx, client.id);
    throw new OAuthError("unauthorized_client", "Only machine clients created by a server's owner may use the client_credentials grant");
  }
  return ctx.store.groupTransaction(async (tx) => {
    await touchClient(ctx, client.id, tx);
    const grant = await ctx.store.hot.machineGrant(tx, client.id);
    if (!grant || grant.revokedAt !== null) throw new OAuthError("invalid_grant", "This machine client was revoked");
    // RFC 8707 §2: the token is for the one server the client was made for, named exactly.
    const resource = params.get("resource");
    const expected = mcpResourceUrl(ctx, grant.serverId);
    if (resource !== undefined && resource !== expected) {
      throw new OAuthError("invalid_target", `This machine client may only get tokens for ${expected}`);
    }
    const requested = params.get("scope");
    const scope = requested === undefined ? grant.scope : [...new Set(requested.split(" ").filter(Boolean))].join(" ");
    if (!scope || scope.split(" ").some((s) => !(SUPPORTED_SCOPES as readonly string[]).includes(s) || !grant.scope.split(" ").includes(s))) {
      throw new OAuthError("invalid_scope", `The scope must be ${grant.scope}`);
    }
    const familyId = await createFamily(ctx, tx, grant.id);
    const tokens = await mintTokens(ctx, tx, {
      grantId: grant.id,
      familyId,
      clientId: client.id,
      userId: grant.userId,
      serverId: grant.serverId,
      scope,
      withRefreshToken: false,
      dpopJkt,
    });
    await recordAudit(ctx, tx, {
      kind: "token.issued",
      serverId: grant.serverId,
      userId: grant.userId,
      clientId: client.id,
      grantId: grant.id,
      actor: `client:${client.id}`,
      detail: { grantType: CLIENT_CREDENTIALS_GRANT, familyId, scope, ...(dpopJkt ? { dpop: true } : {}) },
    });
    return tokens;
  });
}
