import fs from "node:fs";
import { exportAuditEvents, parseSince } from "~/access/export.server";
import type { Command } from "./command.server";

/** CLI commands for the audit log. */
export const auditCommands: Record<string, Command> = {
  "audit export": {
    summary: "Write audit events as JSON lines (oldest first)",
    usage: "[--server ID] [--since ISO] [--to FILE]",
    options: {
      server: { type: "string" },
      since: { type: "string" },
      to: { type: "string" },
    },
    async run({ ctx, values, io }) {
      const serverId = typeof values.server === "string" ? values.server : undefined;
      const since = typeof values.since === "string" ? parseSince(values.since) : undefined;
      const to = typeof values.to === "string" ? values.to : undefined;
      const events = exportAuditEvents(ctx, { serverId, since });
      let count = 0;
      if (!to) {
        for await (const event of events) {
          io.out(JSON.stringify(event) + "\n");
          count++;
        }
        return 0;
      }
      // Written to a temporary file and renamed, so a failed export never leaves half a file behind.
      const tmp = `${to}.${process.pid}.tmp`;
      const fd = fs.openSync(tmp, "w", 0o600);
      try {
        let buffer = "";
        for await (const event of events) {
          buffer += JSON.stringify(event) + "\n";
          count++;
          if (buffer.length > 64 * 1024) {
            fs.writeSync(fd, buffer);
            buffer = "";
          }
        }
        if (buffer) fs.writeSync(fd, buffer);
        fs.closeSync(fd);
        fs.renameSync(tmp, to);
      } catch (error) {
        try {
          fs.closeSync(fd);
        } catch {
          // already closed
        }
        fs.rmSync(tmp, { force: true });
        throw error;
      }
      io.err(`Wrote ${count} event${count === 1 ? "" : "s"} to ${to}\n`);
      return 0;
    },
  },
};
