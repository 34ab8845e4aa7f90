import { copySqliteToPostgres, parseTarget, type CopyResult } from "~/db/copy.server";
import { DATABASE_URL_VARIABLE, postgresSettingsFromEnv } from "~/db/postgres.server";
import { print, requireString, UsageError, type StandaloneCommand } from "./command.server";

/**
 * `toolgate backup` copies the SQLite file; on PostgreSQL the database's own tools do that.
 * Throws (exit code 1) with what to do instead when TOOLGATE_DATABASE_URL is set.
 */
export function refuseSqliteBackupOnPostgres(env: Record<string, string | undefined>): void {
  if (!env[DATABASE_URL_VARIABLE]?.trim()) return;
  throw new Error(
    [
      `${DATABASE_URL_VARIABLE} is set: the data is in PostgreSQL, which toolgate backup (a copy of the SQLite file) does not cover.`,
      "Back it up with PostgreSQL's tools instead, e.g. `pg_dump --format=custom --file toolgate.dump \"$TOOLGATE_DATABASE_URL\"`",
      "(or your provider's snapshots), and keep a copy of secrets.json from the data folder with it:",
      "it holds the data key that decrypts tool signing secrets and headers, and the session secret.",
    ].join("\n"),
  );
}

/** Every occurrence of the URL's password (as typed and decoded) replaced, for any message. */
function withoutPassword(text: string, url: string): string {
  let password: string | undefined;
  try {
    password = new URL(url.trim()).password || undefined;
  } catch {
    return text;
  }
  if (!password) return text;
  let decoded = password;
  try {
    decoded = decodeURIComponent(password);
  } catch {
    // keep the raw form
  }
  for (const secret of new Set([password, decoded])) text = text.split(secret).join("***");
  return text;
}

function describeCopy(result: CopyResult): string {
  const width = Math.max(...result.tables.map((t) => t.table.length), "total".length) + 2;
  const lines = [
    `Copied ${result.source}`,
    `    to ${result.target} (schema ${result.schemaVersion}), in one transaction:`,
    ...result.tables.map((t) => `  ${t.table.padEnd(width)}${String(t.rows).padStart(10)}`),
    `  ${"total".padEnd(width)}${String(result.totalRows).padStart(10)} rows, counts verified in PostgreSQL before commit (${(result.elapsedMs / 1000).toFixed(1)} s)`,
    "",
    "The secrets are not in the database and were not copied. Give every replica the same secrets.json",
    `as ${result.secretsFile}${result.secretsFileFound ? "" : " (NOT FOUND: find the file this installation used)"}`,
    "in its TOOLGATE_DATA_DIR (the data key in it decrypts tool signing secrets, tool headers and API",
    "credentials; the session secret signs session cookies), and the same TOOLGATE_SESSION_SECRET if you set one.",
    "Tokens and client secrets are stored as SHA-256 hashes, so connected clients keep working.",
    `Then start every replica with ${DATABASE_URL_VARIABLE} set to this database.`,
  ];
  return lines.join("\n");
}

/** CLI commands about the store itself. */
export const dbCommands: Record<string, StandaloneCommand> = {
  "db copy": {
    summary: "Copy the SQLite database (running or stopped) into an empty PostgreSQL database",
    usage: "--to postgres://USER:PASSWORD@HOST:5432/DATABASE [--data-dir DIR]",
    options: { to: { type: "string" }, "data-dir": { type: "string" } },
    standalone: true,
    async run(args) {
      const to = requireString(args.values, "to");
      const dataDir = typeof args.values["data-dir"] === "string" ? args.values["data-dir"] : args.config.dataDir;
      try {
        parseTarget(to);
      } catch (error) {
        throw new UsageError(withoutPassword((error as Error).message, to));
      }
      try {
        const result = await copySqliteToPostgres({
          dataDir,
          to,
          // The connect timeout setting applies to the copy's target as to the app's database.
          connectTimeoutS: postgresSettingsFromEnv({
            [DATABASE_URL_VARIABLE]: to,
            TOOLGATE_DATABASE_CONNECT_TIMEOUT_S: args.env.TOOLGATE_DATABASE_CONNECT_TIMEOUT_S,
          })?.connectTimeoutS,
          onProgress: (event) => {
            if (args.json) return;
            if (event.kind === "snapshot") args.io.err(`Snapshot taken: ${event.rows} rows to copy\n`);
          },
        });
        print(args, result, describeCopy(result));
        return 0;
      } catch (error) {
        // Drivers and libraries may quote what they were given; the password never leaves.
        const message = withoutPassword(error instanceof Error ? error.message : String(error), to);
        throw new Error(message);
      }
    },
  },
};
