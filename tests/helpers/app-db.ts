/**
 * The database of an app process a test started (`toolgate serve` or the CLI), for tests that seed
 * rows or read them back: the SQLite file in its data folder (WAL, so the app sees a write on its
 * next read), or the PostgreSQL database noted for that folder (the e2e fixtures and the CLI tests
 * note it). SQL is written with `?` placeholders and in the subset both dialects share.
 */
import { randomBytes } from "node:crypto";
import path from "node:path";
import Database from "better-sqlite3";
import pg from "pg";

const postgresByDataDir = new Map<string, string>();

/** The app with this data folder keeps its data in PostgreSQL at `url`. */
export function notePostgresApp(dataDir: string, url: string): void {
  postgresByDataDir.set(dataDir, url);
}

/** `?` placeholders as PostgreSQL's `$1, $2, …`. */
export function postgresPlaceholders(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

export type AppDb = {
  run(sql: string, ...params: unknown[]): Promise<void>;
  get<R>(sql: string, ...params: unknown[]): Promise<R | undefined>;
  all<R>(sql: string, ...params: unknown[]): Promise<R[]>;
};

/** Runs `work` on a connection of its own to the app's database, in one transaction. */
export async function withAppDb<T>(dataDir: string, work: (db: AppDb) => Promise<T>): Promise<T> {
  const url = postgresByDataDir.get(dataDir);
  if (url) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const query = async <R>(sql: string, params: unknown[]) => (await client.query(postgresPlaceholders(sql), params)).rows as R[];
    try {
      await client.query("begin");
      const value = await work({
        run: async (sql, ...params) => void (await query(sql, params)),
        get: async <R>(sql: string, ...params: unknown[]) => (await query<R>(sql, params))[0],
        all: (sql, ...params) => query(sql, params),
      });
      await client.query("commit");
      return value;
    } catch (error) {
      await client.query("rollback").catch(() => {});
      throw error;
    } finally {
      await client.end();
    }
  }
  const db = new Database(path.join(dataDir, "toolgate.db"));
  db.pragma("busy_timeout = 5000");
  try {
    db.prepare("begin immediate").run();
    const value = await work({
      run: async (sql, ...params) => void db.prepare(sql).run(...params),
      get: async <R>(sql: string, ...params: unknown[]) => db.prepare(sql).get(...params) as R | undefined,
      all: async <R>(sql: string, ...params: unknown[]) => db.prepare(sql).all(...params) as R[],
    });
    db.prepare("commit").run();
    return value;
  } catch (error) {
    if (db.inTransaction) db.prepare("rollback").run();
    throw error;
  } finally {
    db.close();
  }
}

export type ToolRow = { name: string; description: string; endpointUrl: string };

/**
 * Writes a server and its tools (each under a fresh id) in the caller's transaction, as the app
 * stores them; returns the tool ids by name.
 */
export async function insertServerRows(
  db: AppDb,
  server: { id: string; ownerId: string; name: string; signingSecretEnc?: string; at: number },
  tools: ToolRow[],
): Promise<Record<string, string>> {
  const { id, ownerId, name, signingSecretEnc = "unused", at } = server;
  await db.run(
    "insert into mcp_servers (id, owner_id, name, description, signing_secret_enc, created_at, updated_at) values (?, ?, ?, '', ?, ?, ?)",
    id,
    ownerId,
    name,
    signingSecretEnc,
    at,
    at,
  );
  const toolIds: Record<string, string> = {};
  for (const tool of tools) {
    toolIds[tool.name] = randomBytes(16).toString("base64url");
    await db.run(
      "insert into tools (id, server_id, name, description, input_schema, endpoint_url, created_at, updated_at) values (?, ?, ?, ?, '{\"type\":\"object\"}', ?, ?, ?)",
      toolIds[tool.name],
      id,
      tool.name,
      tool.description,
      tool.endpointUrl,
      at,
      at,
    );
  }
  return toolIds;
}
