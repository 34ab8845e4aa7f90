import type { Command } from "./commands.server";

/** CLI commands: server create, server list, tool add. */
export const serverCommands: Record<string, Command> = {};
