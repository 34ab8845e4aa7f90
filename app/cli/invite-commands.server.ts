import { inviteEmail, listInvitations, revokeInvitation } from "~/auth/providers/invitations.server";
import { print, requireString, type Command } from "./command.server";

/** CLI commands for invitations (who may create an account through an identity provider). */
export const inviteCommands: Record<string, Command> = {
  "user invite": {
    summary: "Let an email create a member account at its first identity-provider sign-in",
    usage: "--email E",
    options: { email: { type: "string" } },
    async run(args) {
      const { email } = await inviteEmail(args.ctx, requireString(args.values, "email"));
      print(args, { email }, `Invited ${email}`);
      return 0;
    },
  },
  "user uninvite": {
    summary: "Withdraw an invitation",
    usage: "--email E",
    options: { email: { type: "string" } },
    async run(args) {
      const removed = await revokeInvitation(args.ctx, requireString(args.values, "email"));
      print(args, { removed }, removed ? "Invitation withdrawn" : "No such invitation");
      return removed ? 0 : 1;
    },
  },
  "user invitations": {
    summary: "List pending invitations",
    usage: "",
    options: {},
    async run(args) {
      const list = await listInvitations(args.ctx);
      print(args, list, list.length ? list.map((i) => i.email).join("\n") : "No pending invitations");
      return 0;
    },
  },
};
