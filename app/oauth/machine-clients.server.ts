/**
 * Machine clients (the MCP OAuth Client Credentials extension): an owner creates one for one of
 * their servers and picks the tools it may call. It is an oauth_clients row of kind "machine" plus
 * one grant (source "machine") from the owner to the client on that server, with the chosen tools:
 * so it is listed and revoked like any connected application, and revoking the grant ends every
 * token at once (docs/decisions/047-machine-clients-and-client-credentials.md).
 *
 * It authenticates with private_key_jwt (a JWKS, inline or by jwks_uri) or, without keys, with a
 * generated secret (client_secret_basic; shown once, stored as a hash, rotatable).
 */
import { and, asc, eq, isNull } from "drizzle-orm";
import { z } from "zod";
import type { AppContext } from "~/context.server";
import { newId } from "~/utils/crypto.server";
import { recordAudit } from "./audit.server";
import { CLIENT_CREDENTIALS_GRANT } from "./client-credentials-grant.server";
import { clientJwksSchema } from "./client-assertion.server";
import { checkClientIdUrl } from "./metadata-document-fetch.server";
import { DEFAULT_SCOPE } from "./metadata.server";
import { newClientSecret, revokeGrant, secretHash } from "./tokens.server";

/** Bad input to a machine-client action; `message` is shown to the owner. */
export class MachineClientError extends Error {
  override name = "MachineClientError";
}

export type MachineClientInput = {
  ownerId: string;
  serverId: string;
  name: unknown;
  /** Tool names; undefined means every tool the server has now. */
  toolNames?: string[];
  /** A JWKS (parsed JSON) for private_key_jwt. */
  jwks?: unknown;
  /** Or where to fetch it. */
  jwksUri?: string;
};

export type CreatedMachineClient = {
  clientId: string;
  name: string;
  serverId: string;
  authMethod: "private_key_jwt" | "client_secret_basic";
  /** Only for client_secret_basic, shown once. */
  secret: string | null;
  tools: string[];
};

const nameSchema = z
  .string()
  .trim()
  .min(1, "a name is required")
  .max(100, "at most 100 characters")
  .refine((v) => !/[\x00-\x1f\x7f]/.test(v), "must not contain control characters");

async function ownedServer(ctx: AppContext, ownerId: string, serverId: string) {
  const { mcpServers } = ctx.store.tables;
  return (await ctx.db
    .select({ id: mcpServers.id, name: mcpServers.name })
    .from(mcpServers)
    .where(and(eq(mcpServers.id, serverId), eq(mcpServers.ownerId, ownerId))).limit(1))[0];
}

/** The server's tools named in `names` (all its tools when undefined); unknown names are an error. */
export async function resolveToolNames(ctx: AppContext, serverId: string, names: string[] | undefined): Promise<{ id: string; name: string }[]> {
  const { tools } = ctx.store.tables;
  const all = (await ctx.db.select({ id: tools.id, name: tools.name }).from(tools).where(eq(tools.serverId, serverId)).orderBy(asc(tools.name)));
  if (names === undefined) return all;
  const wanted = [...new Set(names.map((n) => n.trim()).filter(Boolean))];
  const unknown = wanted.filter((n) => !all.some((t) => t.name === n));
  if (unknown.length > 0) throw new MachineClientError(`The server has no tool named ${unknown.join(", ")}`);
  return all.filter((t) => wanted.includes(t.name));
}

/** Creates a machine client and its grant in one transaction. */
export async function createMachineClient(ctx: AppContext, input: MachineClientInput): Promise<CreatedMachineClient> {
  const { grants, grantTools, oauthClients } = ctx.store.tables;
  const server = await ownedServer(ctx, input.ownerId, input.serverId);
  if (!server) throw new MachineClientError("No server of yours has this id");
  const name = nameSchema.safeParse(input.name);
  if (!name.success) throw new MachineClientError(`Name: ${name.error.issues[0]!.message}`);
  if (input.jwks !== undefined && input.jwksUri !== undefined) throw new MachineClientError("Give a JWKS or a JWKS URL, not both");
  const keys: Record<string, unknown> = {};
  if (input.jwks !== undefined) {
    const parsed = clientJwksSchema.safeParse(input.jwks);
    if (!parsed.success) {
      throw new MachineClientError(`JWKS: ${parsed.error.issues[0]!.path.join(".") || "keys"} ${parsed.error.issues[0]!.message}`);
    }
    keys.jwks = parsed.data;
  } else if (input.jwksUri !== undefined) {
    // Fetched under the metadata-document rules (https, public addresses, no redirects, size cap).
    const problem = checkClientIdUrl(input.jwksUri);
    if (problem) throw new MachineClientError(`JWKS URL: ${problem}`);
    keys.jwks_uri = input.jwksUri;
  }
  const chosen = await resolveToolNames(ctx, server.id, input.toolNames);
  const authMethod = Object.keys(keys).length > 0 ? "private_key_jwt" : "client_secret_basic";
  const secret = authMethod === "client_secret_basic" ? newClientSecret() : null;
  const clientId = newId();
  const grantId = newId();
  const now = ctx.now();
  const metadata = {
    client_name: name.data,
    grant_types: [CLIENT_CREDENTIALS_GRANT],
    token_endpoint_auth_method: authMethod,
    ...keys,
  };
  await ctx.store.transaction(async (tx) => {
      await tx.insert(oauthClients)
        .values({
          id: clientId,
          kind: "machine",
          secretHash: secret ? secretHash(secret) : null,
          tokenEndpointAuthMethod: authMethod,
          clientName: name.data,
          redirectUris: "[]",
          metadata: JSON.stringify(metadata),
          createdAt: now,
        });
      await tx.insert(grants)
        .values({ id: grantId, userId: input.ownerId, clientId, serverId: server.id, scope: DEFAULT_SCOPE, createdAt: now, updatedAt: now, source: "machine" });
      for (const tool of chosen) await tx.insert(grantTools).values({ grantId, toolId: tool.id });
      await recordAudit(ctx, tx, {
        kind: "machine_client.created",
        serverId: server.id,
        userId: input.ownerId,
        clientId,
        grantId,
        actor: input.ownerId,
        detail: { name: name.data, authMethod, tools: chosen.map((t) => t.name) },
      });
    });
  return { clientId, name: name.data, serverId: server.id, authMethod, secret, tools: chosen.map((t) => t.name) };
}

export type MachineClientSummary = {
  clientId: string;
  name: string;
  authMethod: string;
  grantId: string;
  createdAt: number;
  lastUsedAt: number | null;
};

/** The live machine clients of a server the user owns (revoked ones are gone from the list). */
export async function listMachineClients(ctx: AppContext, ownerId: string, serverId: string): Promise<MachineClientSummary[]> {
  const { grants, mcpServers, oauthClients } = ctx.store.tables;
  return (await ctx.db
    .select({
      clientId: oauthClients.id,
      name: oauthClients.clientName,
      authMethod: oauthClients.tokenEndpointAuthMethod,
      grantId: grants.id,
      createdAt: oauthClients.createdAt,
      lastUsedAt: oauthClients.lastUsedAt,
    })
    .from(grants)
    .innerJoin(oauthClients, eq(oauthClients.id, grants.clientId))
    .innerJoin(mcpServers, eq(mcpServers.id, grants.serverId))
    .where(and(eq(grants.serverId, serverId), eq(mcpServers.ownerId, ownerId), eq(oauthClients.kind, "machine"), isNull(grants.revokedAt)))
    .orderBy(asc(oauthClients.clientName)));
}

async function liveMachineGrant(ctx: AppContext, ownerId: string, clientId: string) {
  const { grants, mcpServers, oauthClients } = ctx.store.tables;
  return (await ctx.db
    .select({ grantId: grants.id, serverId: grants.serverId, authMethod: oauthClients.tokenEndpointAuthMethod, name: oauthClients.clientName })
    .from(grants)
    .innerJoin(oauthClients, eq(oauthClients.id, grants.clientId))
    .innerJoin(mcpServers, eq(mcpServers.id, grants.serverId))
    .where(and(eq(grants.clientId, clientId), eq(mcpServers.ownerId, ownerId), eq(oauthClients.kind, "machine"), isNull(grants.revokedAt))).limit(1))[0];
}

/** A new secret for a client_secret_basic machine client; the old one stops working at once. */
export async function rotateMachineClientSecret(ctx: AppContext, ownerId: string, clientId: string): Promise<string> {
  const { oauthClients } = ctx.store.tables;
  const found = await liveMachineGrant(ctx, ownerId, clientId);
  if (!found) throw new MachineClientError("No live machine client of yours has this id");
  if (found.authMethod !== "client_secret_basic") throw new MachineClientError("This machine client signs with its own keys; it has no secret");
  const secret = newClientSecret();
  await ctx.store.transaction(async (tx) => {
      await tx.update(oauthClients).set({ secretHash: secretHash(secret) }).where(eq(oauthClients.id, clientId));
      await recordAudit(ctx, tx, {
        kind: "machine_client.secret_rotated",
        serverId: found.serverId,
        userId: ownerId,
        clientId,
        grantId: found.grantId,
        actor: ownerId,
      });
    });
  return secret;
}

/** Ends a machine client: its grant and every token, at once. */
export async function revokeMachineClient(ctx: AppContext, ownerId: string, clientId: string): Promise<boolean> {
  const found = await liveMachineGrant(ctx, ownerId, clientId);
  if (!found) return false;
  await ctx.store.transaction(async (tx) => {
      await revokeGrant(ctx, tx, found.grantId, ownerId);
      await recordAudit(ctx, tx, {
        kind: "grant.revoked",
        serverId: found.serverId,
        userId: ownerId,
        clientId,
        grantId: found.grantId,
        actor: ownerId,
        detail: { applicationName: found.name, machineClient: true },
      });
    });
  return true;
}
