import fs from "node:fs";
import { findUserByEmail } from "~/auth/users.server";
import { addTool, createServer, findServerById, listAllServers, mcpUrl, ValidationError } from "~/servers/servers.server";
import { parseHeadersText } from "~/servers/tool-definition.server";
import { print, requireString, type Command, type CommandArgs } from "./command.server";

function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    throw new Error(`Cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`${file} is not valid JSON: ${(error as Error).message}`);
  }
}

async function ownerByEmail(args: CommandArgs, email: string) {
  const owner = await findUserByEmail(args.ctx, email);
  if (!owner) throw new Error(`No user has the email ${email.trim().toLowerCase()}`);
  return owner;
}

/** Validation errors as "field: message" lines, which say which tool and field are wrong. */
function explain(error: unknown): never {
  if (error instanceof ValidationError) {
    const lines = Object.entries(error.fieldErrors).map(([field, message]) => `${field}: ${message}`);
    throw new Error(`the input is not valid: ${lines.join("; ")}`);
  }
  throw error;
}

/** CLI commands: server create, server list, tool add. */
export const serverCommands: Record<string, Command> = {
  "server create": {
    summary: "Create an MCP server for a user, optionally with tools from a JSON file (all or nothing)",
    usage: "--owner EMAIL --name NAME [--description TEXT] [--tools FILE]",
    options: {
      owner: { type: "string" },
      name: { type: "string" },
      description: { type: "string" },
      tools: { type: "string" },
    },
    async run(args) {
      const owner = await ownerByEmail(args, requireString(args.values, "owner"));
      const name = requireString(args.values, "name");
      const toolsFile = args.values.tools as string | undefined;
      const tools = toolsFile ? readJsonFile(toolsFile) : [];
      if (!Array.isArray(tools)) throw new Error(`${toolsFile} must hold a JSON array of tool definitions`);
      let created;
      try {
        created = await createServer(args.ctx, { ownerId: owner.id, name, description: args.values.description ?? "", tools });
      } catch (error) {
        explain(error);
      }
      const { server, signingSecret } = created;
      const url = mcpUrl(args.ctx, server.id);
      print(
        args,
        { id: server.id, name: server.name, owner: owner.email, tools: server.toolCount, mcpUrl: url, signingSecret },
        [
          `Created server ${server.name} (${server.id}) with ${server.toolCount} tool${server.toolCount === 1 ? "" : "s"}`,
          `MCP URL:        ${url}`,
          `Signing secret: ${signingSecret}`,
          "(shown once; tool endpoints use it to verify X-Toolgate-Signature)",
        ].join("\n"),
      );
      return 0;
    },
  },
  "server list": {
    summary: "List MCP servers (all, or one user's)",
    usage: "[--owner EMAIL]",
    options: { owner: { type: "string" } },
    async run(args) {
      const ownerEmail = args.values.owner as string | undefined;
      const owner = ownerEmail ? await ownerByEmail(args, ownerEmail) : undefined;
      const list = (await listAllServers(args.ctx, owner?.id)).map((s) => ({
        id: s.id,
        name: s.name,
        description: s.description,
        owner: s.ownerEmail,
        tools: s.toolCount,
        mcpUrl: mcpUrl(args.ctx, s.id),
        createdAt: new Date(s.createdAt).toISOString(),
      }));
      const text =
        list.length === 0
          ? "No servers."
          : list.map((s) => `${s.id}  ${s.name}  (${s.owner}, ${s.tools} tool${s.tools === 1 ? "" : "s"})  ${s.mcpUrl}`).join("\n");
      print(args, list, text);
      return 0;
    },
  },
  "tool add": {
    summary: "Add a tool to a server, from a JSON file (one tool definition) or from flags",
    usage:
      "--server ID (--file FILE | --name N --url URL|PATH [--description D] [--input-schema JSON] [--method M] [--header 'Name: value']... [--params JSON] [--annotations JSON] [--output-schema JSON])",
    options: {
      server: { type: "string" },
      file: { type: "string" },
      name: { type: "string" },
      description: { type: "string" },
      "input-schema": { type: "string" },
      url: { type: "string" },
      method: { type: "string" },
      header: { type: "string", multiple: true },
      params: { type: "string" },
      annotations: { type: "string" },
      "output-schema": { type: "string" },
    },
    async run(args) {
      const serverId = requireString(args.values, "server");
      const server = await findServerById(args.ctx, serverId);
      if (!server) throw new Error(`No server has the id ${serverId}`);
      let definition: unknown;
      if (args.values.file) {
        if (args.values.name || args.values.url) throw new Error("Use either --file or --name/--url, not both");
        definition = readJsonFile(args.values.file as string);
      } else {
        const schemaText = (args.values["input-schema"] as string | undefined) ?? '{"type":"object"}';
        let inputSchema: unknown;
        try {
          inputSchema = JSON.parse(schemaText);
        } catch (error) {
          throw new Error(`--input-schema is not valid JSON: ${(error as Error).message}`);
        }
        const headers = parseHeadersText(((args.values.header as string[] | undefined) ?? []).join("\n"));
        if (!headers.ok) throw new Error(`--header: ${headers.message}`);
        const optionalJson = (flag: string) => {
          const text = args.values[flag] as string | undefined;
          if (text === undefined) return undefined;
          try {
            return JSON.parse(text) as unknown;
          } catch (error) {
            throw new Error(`--${flag} is not valid JSON: ${(error as Error).message}`);
          }
        };
        const params = optionalJson("params");
        const annotations = optionalJson("annotations");
        const outputSchema = optionalJson("output-schema");
        definition = {
          name: requireString(args.values, "name"),
          description: args.values.description ?? "",
          inputSchema,
          endpoint: {
            url: requireString(args.values, "url"),
            method: args.values.method ?? "POST",
            headers: headers.headers,
            ...(params !== undefined ? { params } : {}),
          },
          ...(annotations !== undefined ? { annotations } : {}),
          ...(outputSchema !== undefined ? { outputSchema } : {}),
        };
      }
      let tool;
      try {
        tool = await addTool(args.ctx, null, server.id, definition);
      } catch (error) {
        explain(error);
      }
      if (!tool) throw new Error(`No server has the id ${serverId}`);
      print(
        args,
        { id: tool.id, serverId: server.id, name: tool.name, endpoint: { url: tool.endpointUrl, method: tool.endpointMethod } },
        `Added tool ${tool.name} (${tool.id}) to ${server.name}`,
      );
      return 0;
    },
  },
};
