import path from "node:path";
import { ZodError } from "zod";
import { parseArgs } from "node:util";
import type { ServerBuild } from "@remix-run/node";
import { ConfigError, parseConfig } from "~/config.server";
import { openAppContext, type AppContext } from "~/context.server";
import { DatabaseStartError } from "~/db/postgres.server";
import { setLogOutput } from "~/utils/log.server";
import { UsageError, type CliIo } from "./command.server";
import { commands } from "./commands.server";
import { effectivePublicUrl } from "./public-url.server";

export type CliOptions = {
  build: ServerBuild;
  /** The package root (holds public/); the single executable passes its extraction folder. */
  root: string;
  io?: CliIo;
  env?: Record<string, string | undefined>;
};

const defaultIo: CliIo = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  },
};

export function usage(): string {
  const lines = ["Usage: toolgate <command> [options]", "", "Commands:"];
  for (const [name, cmd] of Object.entries(commands)) lines.push(`  ${name.padEnd(28)} ${cmd.summary}`);
  lines.push("", "Global options:", "  --json                       machine-readable output", "  -h, --help                   show help");
  lines.push("", "Configuration comes from the environment (PORT, HOST, PUBLIC_URL, TOOLGATE_DATA_DIR, ...); see the README.");
  return lines.join("\n") + "\n";
}

/** Runs one CLI invocation and returns the process exit code. */
export async function runCli(argv: string[], options: CliOptions): Promise<number> {
  const io = options.io ?? defaultIo;
  const env = options.env ?? process.env;
  // Commands may be one or two words ("serve", "user add").
  const two = argv.slice(0, 2).join(" ");
  // Own keys only: `toolgate constructor` names no command.
  const known = (word: string) => Object.hasOwn(commands, word);
  const name = known(two) ? two : known(argv[0] ?? "") ? argv[0]! : undefined;
  if (!name || argv.includes("--help") && !name) {
    if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
      io.out(usage());
      return 0;
    }
    io.err(`Unknown command: ${argv.slice(0, 2).join(" ")}\n\n${usage()}`);
    return 2;
  }
  const command = commands[name]!;
  const rest = argv.slice(name.split(" ").length);
  let parsed;
  try {
    const options = { ...command.options, json: { type: "boolean" as const }, help: { type: "boolean" as const, short: "h" } };
    parsed = parseArgs({
      args: attachDashValues(rest, options),
      options,
      allowPositionals: false,
      strict: true,
    });
  } catch (error) {
    io.err(`${(error as Error).message}\n\nUsage: toolgate ${name} ${command.usage ?? ""}\n`);
    return 2;
  }
  if (parsed.values.help) {
    io.out(`Usage: toolgate ${name} ${command.usage ?? ""}\n\n${command.summary}\n`);
    return 0;
  }
  // Log lines go to stderr except while serving, so a command's stdout is only its output.
  setLogOutput(name === "serve" ? "stdout" : "stderr");
  if (!command.standalone && command.preflight) {
    try {
      command.preflight(env);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      io.err(parsed.values.json ? JSON.stringify({ error: message }) + "\n" : `Error: ${message}\n`);
      return 1;
    }
  }
  let ctx: AppContext | undefined;
  let config;
  try {
    config = parseConfig(env);
    if (name !== "serve") {
      const publicUrl = effectivePublicUrl(config, env, (line) => io.err(`${line}\n`));
      if (publicUrl !== config.publicUrl) config = { ...config, publicUrl, secureCookies: publicUrl.startsWith("https:") };
    }
    if (!command.standalone) ctx = await openAppContext(config, env);
  } catch (error) {
    if (error instanceof ConfigError) {
      io.err(`${error.message}\n`);
      return 2;
    }
    // A bad TOOLGATE_DATABASE_URL or a database that cannot be reached: the message says it all.
    if (error instanceof DatabaseStartError) {
      io.err(`${error.message}\n`);
      return 1;
    }
    throw error;
  }
  try {
    const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
    const json = Boolean(parsed.values.json);
    if (command.standalone) return await command.run({ config, env, values, json, io });
    return await command.run({
      ctx: ctx!,
      values,
      json,
      io,
      build: options.build,
      publicDir: path.join(options.root, "public"),
      env,
    });
  } catch (error) {
    const message = errorSentence(error);
    const usage = error instanceof UsageError;
    if (parsed.values.json) io.err(JSON.stringify({ error: message }) + "\n");
    else io.err(`Error: ${message}\n${usage ? `\nUsage: toolgate ${name} ${command.usage ?? ""}\n` : ""}`);
    return usage ? 2 : 1;
  } finally {
    if (name !== "serve") await ctx?.store.close();
  }
}

/**
 * `--server -Ab3…` as `--server=-Ab3…`: ids are base64url and may start with "-", which parseArgs
 * would otherwise refuse as an ambiguous option value. Only for options that take a value, and
 * only when the next word is not itself one of the command's options.
 */
export function attachDashValues(args: string[], options: Record<string, { type: "string" | "boolean" }>): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const next = args[i + 1];
    const name = arg.startsWith("--") && !arg.includes("=") ? arg.slice(2) : null;
    const takesValue = name !== null && Object.hasOwn(options, name) && options[name]!.type === "string";
    const nextIsOption = next !== undefined && next.startsWith("--") && Object.hasOwn(options, next.slice(2).split("=")[0]!);
    if (takesValue && next !== undefined && next.startsWith("-") && !nextIsOption) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

/** What a failed command prints: its error's message, and a validation error as its sentences (never the schema library's dump). */
function errorSentence(error: unknown): string {
  if (error instanceof ZodError) return error.issues.map((i) => i.message).join("; ");
  return error instanceof Error ? error.message : String(error);
}
