/**
 * The shape of a CLI command and the helpers every command module uses. Kept apart from the
 * command table (commands.server.ts), which imports every command module: importing the table from
 * a command module would be an import cycle.
 */
import type { ParseArgsConfig } from "node:util";
import type { ServerBuild } from "@remix-run/node";
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
};

export type Command = {
  summary: string;
  usage?: string;
  options: NonNullable<ParseArgsConfig["options"]>;
  run(args: CommandArgs): Promise<number>;
};

/** Prints a value as JSON (with --json) or as the given human text. */
export function print(args: CommandArgs, value: unknown, text: string): void {
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
