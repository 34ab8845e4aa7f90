/**
 * The shape of a CLI command and the helpers every command module uses. Kept apart from the
 * command table (commands.server.ts), which imports every command module: importing the table from
 * a command module would be an import cycle.
 */
import type { ParseArgsConfig } from "node:util";
import type { ServerBuild } from "@remix-run/node";
import type { Config } from "~/config.server";
import type { AppContext } from "~/context.server";

export type CliIo = {
  out(text: string): void;
  err(text: string): void;
  readStdin(): Promise<string>;
};

export type CommandArgs = {
  ctx: AppContext;
  values: Record<string, string | boolean | string[] | undefined>;
  json: boolean;
  io: CliIo;
  build: ServerBuild;
  publicDir: string;
  /** The environment the CLI was started with (config holds what it parsed from it). */
  env: Record<string, string | undefined>;
};

export type Command = {
  summary: string;
  usage?: string;
  options: NonNullable<ParseArgsConfig["options"]>;
  standalone?: false;
  /**
   * Checked before any database is opened: throws (the message is the command's error, exit 1)
   * when the command cannot run with this environment at all.
   */
  preflight?(env: Record<string, string | undefined>): void;
  run(args: CommandArgs): Promise<number>;
};

/** What a command gets that opens its databases itself (the CLI opens none for it). */
export type StandaloneArgs = Pick<CommandArgs, "values" | "json" | "io" | "env"> & { config: Config };

export type StandaloneCommand = {
  summary: string;
  usage?: string;
  options: NonNullable<ParseArgsConfig["options"]>;
  standalone: true;
  run(args: StandaloneArgs): Promise<number>;
};

export type AnyCommand = Command | StandaloneCommand;

/** Prints a value as JSON (with --json) or as the given human text. */
export function print(args: Pick<CommandArgs, "json" | "io">, value: unknown, text: string): void {
  args.io.out(args.json ? JSON.stringify(value) + "\n" : text.endsWith("\n") ? text : text + "\n");
}

/** A command line that cannot be run as given (exit code 2, with the command's usage). */
export class UsageError extends Error {
  override name = "UsageError";
}

export function requireString(values: CommandArgs["values"], name: string): string {
  const v = values[name];
  if (typeof v !== "string" || v.trim() === "") throw new UsageError(`--${name} is required`);
  return v;
}
