import type { Command } from "./commands.server";

/** CLI commands: backup and other operations. */
export const opsCommands: Record<string, Command> = {};
