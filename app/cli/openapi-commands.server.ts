import fs from "node:fs";
import { apiCredentialSchema, baseUrlSchema, clearApiCredential, describeApiAuth, setApiCredential, setBaseUrl, type ApiCredential } from "~/servers/api-credentials.server";
import { applyImport, fetchOpenApiDocument, OPENAPI_LIMITS, OpenApiImportError, parseOpenApiDocument, planImport } from "~/servers/openapi-import.server";
import { fieldErrorsOf, findServerById, ValidationError } from "~/servers/servers.server";
import { closeUpstreamPools } from "~/servers/upstream-http.server";
import { print, requireString, type CommandArgs, type Command } from "./command.server";

const CREDENTIAL_OPTIONS = {
  type: { type: "string" },
  in: { type: "string" },
  name: { type: "string" },
  username: { type: "string" },
  "secret-stdin": { type: "boolean" },
} as const;
const CREDENTIAL_USAGE = "--type api-key --in header|query --name NAME --secret-stdin | --type bearer --secret-stdin | --type basic --username U --secret-stdin";

async function requireServer(args: CommandArgs) {
  const serverId = requireString(args.values, "server");
  const server = await findServerById(args.ctx, serverId);
  if (!server) throw new Error(`No server has the id ${serverId}`);
  return server;
}

/** The credential of --type and friends, the secret read from standard input; null without --type. */
async function credentialFrom(args: CommandArgs): Promise<ApiCredential | null> {
  const type = args.values.type as string | undefined;
  if (!type) {
    if (args.values["secret-stdin"]) throw new Error("--secret-stdin needs --type (api-key, bearer or basic)");
    return null;
  }
  if (!args.values["secret-stdin"]) throw new Error("--secret-stdin is required (the secret is read from standard input, never from the command line)");
  const secret = (await args.io.readStdin()).replace(/\r?\n$/, "");
  const input =
    type === "api-key"
      ? { type, in: args.values.in, name: args.values.name, secret }
      : type === "basic"
        ? { type, username: args.values.username, secret }
        : { type, secret };
  const parsed = apiCredentialSchema.safeParse(input);
  if (!parsed.success) {
    throw new Error(`invalid credential\n${Object.entries(fieldErrorsOf(parsed.error)).map(([k, v]) => `  --${k === "secret" ? "secret-stdin" : k}: ${v}`).join("\n")}`);
  }
  return parsed.data;
}

async function readDocument(source: string): Promise<{ text: string; sourceUrl?: string }> {
  if (/^https?:\/\//i.test(source)) {
    try {
      return { text: await fetchOpenApiDocument(source), sourceUrl: source };
    } finally {
      closeUpstreamPools();
    }
  }
  let stat: fs.Stats;
  try {
    stat = fs.statSync(source);
  } catch (error) {
    throw new Error(`Cannot read ${source}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (stat.size > OPENAPI_LIMITS.documentBytes) {
    throw new Error(`${source} is larger than ${OPENAPI_LIMITS.documentBytes / 1024 / 1024} MiB, the most Toolgate imports.`);
  }
  return { text: fs.readFileSync(source, "utf8") };
}

/** CLI commands: server import (OpenAPI), server credentials (the upstream API's credential). */
export const openapiCommands: Record<string, Command> = {
  "server import": {
    summary: "Turn an OpenAPI document's operations into tools (all or nothing; a re-import updates tools by name)",
    usage: `--server ID --openapi FILE|URL [--include op1,op2] [--base-url URL] [--dry-run] [${CREDENTIAL_USAGE}]`,
    options: {
      server: { type: "string" },
      openapi: { type: "string" },
      include: { type: "string" },
      "base-url": { type: "string" },
      "dry-run": { type: "boolean" },
      ...CREDENTIAL_OPTIONS,
    },
    async run(args) {
      const server = await requireServer(args);
      const source = requireString(args.values, "openapi");
      const credential = await credentialFrom(args);
      const include = ((args.values.include as string | undefined) ?? "").split(",").map((s) => s.trim()).filter(Boolean);
      let plan;
      let counts = null;
      try {
        const { text, sourceUrl } = await readDocument(source);
        const parsed = await parseOpenApiDocument(text, { sourceUrl });
        plan = await planImport(args.ctx, server.id, parsed, { include, baseUrl: (args.values["base-url"] as string | undefined) ?? null });
        if (!args.values["dry-run"]) counts = await applyImport(args.ctx, server.id, plan, { credential: credential ?? undefined });
      } catch (error) {
        if (error instanceof OpenApiImportError) throw new Error(error.message);
        if (error instanceof ValidationError) throw new Error(Object.values(error.fieldErrors).join("\n"));
        throw error;
      }
      const names = (list: { tool: { name: string } }[]) => list.map((t) => t.tool.name);
      const refused = plan.refused.map((op) => ({ operation: op.key, tool: op.toolName, reason: op.refused }));
      const value = {
        serverId: server.id,
        baseUrl: plan.baseUrl,
        applied: counts !== null,
        added: names(plan.added),
        changed: names(plan.changed),
        unchanged: names(plan.unchanged),
        removed: plan.removed.map((t) => t.name),
        refused,
        ...(credential ? { credential: describeApiAuth(credential) } : {}),
      };
      const list = (label: string, items: string[]) => (items.length ? [`${label} (${items.length}): ${items.join(", ")}`] : []);
      const lines = [
        `${counts ? "Imported into" : "Would import into"} ${server.name} (${server.id}), base URL ${plan.baseUrl}`,
        ...list("Added", value.added),
        ...list("Changed", value.changed),
        ...list("Removed", value.removed),
        `Unchanged: ${value.unchanged.length}`,
        ...(refused.length ? [`Refused (${refused.length}):`, ...refused.map((r) => `  ${r.operation} (${r.tool}): ${r.reason}`)] : []),
        ...(credential ? [`API credential: ${describeApiAuth(credential)}`] : []),
      ];
      print(args, value, lines.join("\n"));
      return 0;
    },
  },
  "server credentials": {
    summary: "Set the API credential Toolgate sends to the server's upstream API (only to its base URL)",
    usage: `--server ID (${CREDENTIAL_USAGE} | --clear) [--base-url URL]`,
    options: { server: { type: "string" }, clear: { type: "boolean" }, "base-url": { type: "string" }, ...CREDENTIAL_OPTIONS },
    async run(args) {
      const server = await requireServer(args);
      let baseUrl: string | undefined;
      if (args.values["base-url"]) {
        const parsed = baseUrlSchema.safeParse(args.values["base-url"]);
        if (!parsed.success) throw new Error(`--base-url: ${parsed.error.issues[0]!.message}`);
        baseUrl = parsed.data;
      }
      if (args.values.clear) {
        if (args.values.type) throw new Error("Use either --clear or --type, not both");
        await clearApiCredential(args.ctx, null, server.id);
        if (baseUrl) await setBaseUrl(args.ctx, null, server.id, baseUrl);
        print(args, { serverId: server.id, credential: null }, `Removed the API credential of ${server.name}`);
        return 0;
      }
      const credential = await credentialFrom(args);
      if (!credential) throw new Error("--type is required (api-key, bearer or basic), or --clear");
      if (!baseUrl && !server.baseUrl) throw new Error("The server has no base URL: give --base-url (the credential is only ever sent there)");
      await setApiCredential(args.ctx, null, server.id, credential, baseUrl);
      const description = describeApiAuth(credential);
      print(
        args,
        { serverId: server.id, baseUrl: baseUrl ?? server.baseUrl, credential: description },
        `Set the API credential of ${server.name}: ${description}, sent only to ${baseUrl ?? server.baseUrl}`,
      );
      return 0;
    },
  },
};
