import { listUsers, removeUser, resetPassword } from "~/auth/accounts.server";
import { print, requireString, UsageError, type Command, type CommandArgs } from "./command.server";

async function passwordFromStdin(args: CommandArgs): Promise<string> {
  if (!args.values["password-stdin"]) throw new UsageError("--password-stdin is required (the password is read from standard input)");
  return (await args.io.readStdin()).replace(/\r?\n$/, "");
}

/** CLI commands: user list, user remove, user reset-password. */
export const accountCommands: Record<string, Command> = {
  "user list": {
    summary: "List user accounts",
    usage: "[--json]",
    options: {},
    async run(args) {
      const list = await listUsers(args.ctx);
      const text =
        list.length === 0
          ? "No users yet."
          : list
              .map((u) => `${u.email}  ${u.role}  ${u.serverCount} server${u.serverCount === 1 ? "" : "s"}  ${u.id}`)
              .join("\n");
      print(args, list.map((u) => ({ ...u, createdAt: new Date(u.createdAt).toISOString() })), text);
      return 0;
    },
  },
  "user remove": {
    summary: "Delete a user and everything they own (servers, tools, connections)",
    usage: "--email E",
    options: { email: { type: "string" } },
    async run(args) {
      const email = requireString(args.values, "email");
      const removed = await removeUser(args.ctx, email);
      print(args, removed, `Removed user ${removed.email}`);
      return 0;
    },
  },
  "user reset-password": {
    summary: "Set a new password (read from standard input) and sign the user out everywhere",
    usage: "--email E --password-stdin",
    options: { email: { type: "string" }, "password-stdin": { type: "boolean" } },
    async run(args) {
      const email = requireString(args.values, "email");
      const password = await passwordFromStdin(args);
      const user = await resetPassword(args.ctx, email, password);
      print(args, user, `Password reset for ${user.email}; their sessions were ended`);
      return 0;
    },
  },
};
