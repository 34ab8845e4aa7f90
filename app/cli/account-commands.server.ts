import type { Command } from "./commands.server";

/** CLI commands: user list, user remove, user reset-password. */
export const accountCommands: Record<string, Command> = {};
