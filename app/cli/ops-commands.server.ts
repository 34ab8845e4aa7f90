import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import type { AppContext } from "~/context.server";
import { print, requireString, type Command } from "./command.server";
import { refuseSqliteBackupOnPostgres } from "./db-commands.server";

/** The secrets file written next to a backup: `<backup>.secrets.json`. */
export const secretsFileFor = (backupFile: string) => `${backupFile}.secrets.json`;

export type BackupResult = { file: string; secretsFile: string; bytes: number; pages: number };

/**
 * Copies the live database with SQLite's online backup API (safe while the server writes: readers
 * and writers go on, pages changed during the copy are copied again) and the secrets file next to
 * it. Tool signing secrets are encrypted with the key in secrets.json, so a backup without it
 * cannot sign tool calls after a restore.
 */
export async function backupTo(ctx: AppContext, target: string, options: { force?: boolean } = {}): Promise<BackupResult> {
  // SQLite's online backup API; a PostgreSQL database is backed up with its own tools.
  if (ctx.store.dialect !== "sqlite") throw new Error("toolgate backup copies the SQLite database; on PostgreSQL use pg_dump, and keep secrets.json");
  const file = path.resolve(target);
  const secretsFile = secretsFileFor(file);
  if (!options.force) {
    for (const f of [file, secretsFile]) {
      if (fs.existsSync(f)) throw new Error(`${f} already exists; pass --force to overwrite it`);
    }
  }
  if (!fs.existsSync(path.dirname(file))) throw new Error(`The folder ${path.dirname(file)} does not exist`);
  // Written under a temporary name and renamed, so a half-written backup never has the final name.
  const tmp = `${file}.${process.pid}.partial`;
  try {
    // All remaining pages in one step: one read transaction, so the copy is a consistent snapshot.
    // (Copying in small steps restarts whenever another process writes, and may never finish on a
    // busy server; in WAL mode a reader does not block the server's writes.)
    const { totalPages } = await ctx.store.sqlite.backup(tmp, { progress: () => 0x7fffffff });
    // One self-contained file (rollback journal, not WAL), checked before it gets its name.
    const check = new Database(tmp, { nativeBinding: process.env.TOOLGATE_SQLITE_BINDING });
    try {
      check.pragma("journal_mode = DELETE");
      const result = check.pragma("quick_check", { simple: true });
      if (result !== "ok") throw new Error(`the backup failed its integrity check: ${String(result)}`);
    } finally {
      check.close();
    }
    fs.chmodSync(tmp, 0o600);
    fs.renameSync(tmp, file);
    const secrets = path.join(ctx.config.dataDir, "secrets.json");
    fs.copyFileSync(secrets, `${secretsFile}.partial`);
    fs.chmodSync(`${secretsFile}.partial`, 0o600);
    fs.renameSync(`${secretsFile}.partial`, secretsFile);
    return { file, secretsFile, bytes: fs.statSync(file).size, pages: totalPages };
  } finally {
    for (const leftover of [tmp, `${tmp}-wal`, `${tmp}-shm`, `${tmp}-journal`, `${secretsFile}.partial`]) {
      fs.rmSync(leftover, { force: true });
    }
  }
}

/** CLI commands: backup and other operations. */
export const opsCommands: Record<string, Command> = {
  backup: {
    summary: "Copy the database (online, safe while serving) and its secrets file",
    usage: "--to FILE [--force]",
    options: { to: { type: "string" }, force: { type: "boolean" } },
    async run(args) {
      refuseSqliteBackupOnPostgres(args.env);
      const result = await backupTo(args.ctx, requireString(args.values, "to"), { force: Boolean(args.values.force) });
      print(
        args,
        result,
        [
          `Backed up the database to ${result.file} (${result.bytes} bytes)`,
          `and the secrets to ${result.secretsFile}.`,
          "Keep both files together, and private: the secrets file holds the key that decrypts tool",
          "signing secrets and the key that signs sessions. Restoring: see the README, \"Backups and restore\".",
        ].join("\n"),
      );
      return 0;
    },
  },
};
