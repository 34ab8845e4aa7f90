import fs from "node:fs";
import { findServerById, mcpUrl } from "~/servers/servers.server";
import {
  createMachineClient,
  listMachineClients,
  MachineClientError,
  revokeMachineClient,
  rotateMachineClientSecret,
} from "~/oauth/machine-clients.server";
import { and, eq } from "drizzle-orm";
import { print, requireString, type Command, type CommandArgs } from "./command.server";

async function serverOf(args: CommandArgs) {
  const serverId = requireString(args.values, "server");
  const server = await findServerById(args.ctx, serverId);
  if (!server) throw new Error(`No server has the id ${serverId}`);
  return server;
}

/** The owner of the server a machine client belongs to (the CLI acts as that owner). */
async function machineClientOwner(args: CommandArgs, clientId: string): Promise<string> {
  const { grants, mcpServers } = args.ctx.store.tables;
  const row = (
    await args.ctx.db
      .select({ ownerId: mcpServers.ownerId })
      .from(grants)
      .innerJoin(mcpServers, eq(mcpServers.id, grants.serverId))
      .where(and(eq(grants.clientId, clientId), eq(grants.source, "machine")))
      .limit(1)
  )[0];
  if (!row) throw new Error(`No machine client has the id ${clientId}`);
  return row.ownerId;
}

async function explain<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof MachineClientError) throw new Error(error.message);
    throw error;
  }
}

/** CLI commands for machine clients (OAuth client credentials). */
export const clientCommands: Record<string, Command> = {
  "client create": {
    summary: "Create a machine client for a server (client_credentials; private_key_jwt with --jwks/--jwks-uri, else a secret)",
    usage: "--server ID --name NAME [--tools a,b] [--jwks FILE | --jwks-uri URL]",
    options: {
      server: { type: "string" },
      name: { type: "string" },
      tools: { type: "string" },
      jwks: { type: "string" },
      "jwks-uri": { type: "string" },
    },
    async run(args) {
      const server = await serverOf(args);
      const jwksFile = args.values.jwks as string | undefined;
      let jwks: unknown;
      if (jwksFile !== undefined) {
        try {
          jwks = JSON.parse(fs.readFileSync(jwksFile, "utf8"));
        } catch (error) {
          throw new Error(`Cannot read a JWKS from ${jwksFile}: ${(error as Error).message}`);
        }
      }
      const toolsValue = args.values.tools as string | undefined;
      const created = await explain(() =>
        createMachineClient(args.ctx, {
          ownerId: server.ownerId,
          serverId: server.id,
          name: requireString(args.values, "name"),
          toolNames: toolsValue === undefined ? undefined : toolsValue.split(","),
          jwks,
          jwksUri: args.values["jwks-uri"] as string | undefined,
        }),
      );
      const url = mcpUrl(args.ctx, server.id);
      print(
        args,
        { clientId: created.clientId, name: created.name, serverId: server.id, resource: url, authMethod: created.authMethod, tools: created.tools, ...(created.secret ? { clientSecret: created.secret } : {}) },
        [
          `Created machine client ${created.name} (${created.clientId}) for ${server.name}`,
          `Resource:      ${url}`,
          `Token URL:     ${args.ctx.config.publicUrl}/token (grant_type=client_credentials)`,
          `Auth method:   ${created.authMethod}`,
          `Tools:         ${created.tools.length > 0 ? created.tools.join(", ") : "(none)"}`,
          ...(created.secret ? [`Client secret: ${created.secret}`, "(shown once; rotate it with `toolgate client rotate-secret`)"] : []),
        ].join("\n"),
      );
      return 0;
    },
  },
  "client list": {
    summary: "List the live machine clients of a server",
    usage: "--server ID",
    options: { server: { type: "string" } },
    async run(args) {
      const server = await serverOf(args);
      const list = (await listMachineClients(args.ctx, server.ownerId, server.id)).map((c) => ({
        clientId: c.clientId,
        name: c.name,
        authMethod: c.authMethod,
        createdAt: new Date(c.createdAt).toISOString(),
        lastUsedAt: c.lastUsedAt === null ? null : new Date(c.lastUsedAt).toISOString(),
      }));
      print(args, list, list.length === 0 ? "No machine clients." : list.map((c) => `${c.clientId}  ${c.name}  (${c.authMethod})`).join("\n"));
      return 0;
    },
  },
  "client rotate-secret": {
    summary: "Give a machine client a new secret; the old one stops working at once",
    usage: "--client ID",
    options: { client: { type: "string" } },
    async run(args) {
      const clientId = requireString(args.values, "client");
      const secret = await explain(async () => rotateMachineClientSecret(args.ctx, await machineClientOwner(args, clientId), clientId));
      print(args, { clientId, clientSecret: secret }, `New client secret: ${secret}\n(shown once; the old secret no longer works)`);
      return 0;
    },
  },
  "client revoke": {
    summary: "Revoke a machine client and every token it holds, at once",
    usage: "--client ID",
    options: { client: { type: "string" } },
    async run(args) {
      const clientId = requireString(args.values, "client");
      const revoked = await revokeMachineClient(args.ctx, await machineClientOwner(args, clientId), clientId);
      if (!revoked) throw new Error(`The machine client ${clientId} is already revoked`);
      const { oauthClients } = args.ctx.store.tables;
      const name = (await args.ctx.db.select({ name: oauthClients.clientName }).from(oauthClients).where(eq(oauthClients.id, clientId)).limit(1))[0]?.name;
      print(args, { clientId, revoked: true }, `Revoked machine client ${name ?? clientId}`);
      return 0;
    },
  },
};
