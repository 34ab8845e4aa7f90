import { createUser } from "~/auth/users.server";
import { serveUntilSignal, startHttpServer } from "~/http/server.server";
import { startOAuthCleanup } from "~/oauth/cleanup.server";
import { startAccessJobs } from "~/access/retention.server";
import { accountCommands } from "./account-commands.server";
import { serverCommands } from "./server-commands.server";
import { opsCommands } from "./ops-commands.server";
import { auditCommands } from "./audit-commands.server";
import { inviteCommands } from "./invite-commands.server";
import { clientCommands } from "./client-commands.server";
import { openapiCommands } from "./openapi-commands.server";
import { recordServingUrl } from "./public-url.server";
import { startArgumentValidation } from "~/servers/json-schema.server";
import { dbCommands } from "./db-commands.server";
import { print, requireString, UsageError, type AnyCommand } from "./command.server";

export type { CliIo, Command, CommandArgs } from "./command.server";
export { UsageError } from "./command.server";

export const commands: Record<string, AnyCommand> = {
  serve: {
    summary: "Start the web app and the OAuth/MCP endpoints",
    usage: "",
    options: {},
    async run({ ctx, build, publicDir, io }) {
      const running = await startHttpServer({
        ctx,
        build,
        publicDir,
        mode: process.env.NODE_ENV === "development" ? "development" : "production",
      });
      ctx.logger.info("listening", { url: running.url, publicUrl: ctx.config.publicUrl, dataDir: ctx.config.dataDir });
      // The other commands print MCP URLs with the PUBLIC_URL this server announces.
      recordServingUrl(ctx.config);
      await startOAuthCleanup(ctx);
      startAccessJobs(ctx);
      startArgumentValidation();
      if (process.env.NODE_ENV === "development") {
        const { broadcastDevReady } = await import("@remix-run/node");
        await broadcastDevReady(build);
      }
      // In-flight tool calls may take up to the tool timeout; let them finish.
      await serveUntilSignal(ctx, running, { graceMs: Math.max(10_000, ctx.config.toolTimeoutMs + 5_000) });
      void io;
      return 0;
    },
  },

  "user add": {
    summary: "Create a user (password read from standard input, or --no-password for identity-provider sign-in only)",
    usage: "--email E [--name N] [--owner] (--password-stdin | --no-password)",
    options: {
      email: { type: "string" },
      name: { type: "string" },
      owner: { type: "boolean" },
      "password-stdin": { type: "boolean" },
      "no-password": { type: "boolean" },
    },
    async run(args) {
      const email = requireString(args.values, "email");
      const fromStdin = Boolean(args.values["password-stdin"]);
      const none = Boolean(args.values["no-password"]);
      // An account without a password can only sign in through an identity provider: say so on purpose.
      if (fromStdin === none) {
        throw new UsageError(
          fromStdin
            ? "use either --password-stdin or --no-password, not both"
            : "give --password-stdin (the password is read from standard input), or --no-password for an account that signs in only through an identity provider",
        );
      }
      let password: string | null = null;
      if (fromStdin) {
        password = (await args.io.readStdin()).replace(/\r?\n$/, "");
        if (password === "") throw new Error("the password read from standard input is empty");
      }
      const user = await createUser(args.ctx, {
        email,
        password,
        name: args.values.name as string | undefined,
        role: args.values.owner ? "owner" : "member",
      });
      print(args, { id: user.id, email: user.email, role: user.role }, `Created user ${user.email} (${user.id})`);
      return 0;
    },
  },
  ...accountCommands,
  ...serverCommands,
  ...opsCommands,
  ...auditCommands,
  ...inviteCommands,
  ...clientCommands,
  ...openapiCommands,
  ...dbCommands,
};
