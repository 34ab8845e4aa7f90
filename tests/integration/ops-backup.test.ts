/**
 * `toolgate backup --to FILE` and the restore procedure in the README ("Backups and restore"),
 * run with the real CLI against a real running server whose database is being written.
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { runCli, serveBuiltApp } from "../helpers/built-app";

const PASSWORD = "correct horse battery staple";

type App = { env: NodeJS.ProcessEnv; base: string; child: ChildProcess; output: () => string };
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function tempDir(prefix: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The environment of the app on `dataDir`; serve() adds its port (PORT and PUBLIC_URL). */
async function envFor(dataDir: string) {
  return {
    PATH: process.env.PATH,
    NODE_ENV: "production",
    HOST: "127.0.0.1",
    TOOLGATE_DATA_DIR: dataDir,
    TOOLGATE_LOG_LEVEL: "warn",
  } as NodeJS.ProcessEnv;
}

async function serve(env: NodeJS.ProcessEnv): Promise<App> {
  const served = await serveBuiltApp((port) => ({ ...env, PORT: String(port), PUBLIC_URL: `http://localhost:${port}` }));
  const app = { env: served.env, base: served.env.PUBLIC_URL!, child: served.child, output: served.output };
  cleanups.push(() => stop(app));
  return app;
}

async function stop(app: App) {
  if (app.child.exitCode === null) {
    app.child.kill("SIGTERM");
    await new Promise((r) => app.child.once("exit", r));
  }
}

function cli(env: NodeJS.ProcessEnv, args: string[], stdin = "") {
  return runCli(args, env, stdin);
}

async function signInStatus(base: string, email: string, password: string) {
  const page = await fetch(`${base}/sign-in`);
  const cookie = page.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
  const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())?.[1] ?? "";
  const res = await fetch(`${base}/sign-in`, {
    method: "POST",
    redirect: "manual",
    headers: { Cookie: cookie, "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ csrf, email, password }),
  });
  return res.status;
}

async function seed(env: NodeJS.ProcessEnv) {
  expect((await cli(env, ["user", "add", "--email", "owner@example.test", "--owner", "--password-stdin"], PASSWORD + "\n")).code).toBe(0);
  const toolsFile = path.join(env.TOOLGATE_DATA_DIR!, "..", `tools-${process.pid}-${Date.now()}.json`);
  fs.writeFileSync(toolsFile, JSON.stringify([{ name: "forecast", description: "Forecast", inputSchema: { type: "object" }, endpoint: { url: "https://tools.example.test/forecast" } }]));
  cleanups.push(() => fs.rmSync(toolsFile, { force: true }));
  const server = await cli(env, ["server", "create", "--owner", "owner@example.test", "--name", "Weather", "--tools", toolsFile, "--json"]);
  expect(server.code, server.stderr).toBe(0);
  return JSON.parse(server.stdout) as { id: string };
}

describe("toolgate backup", () => {
  it("copies a consistent snapshot while the server runs and the database is written", async () => {
    const dataDir = tempDir("toolgate-backup-a-");
    const env = await envFor(dataDir);
    const app = await serve(env);
    await seed(env);

    // Writers while the backup runs: the server (dynamic registrations) and a second connection
    // writing batches of 50 rows per transaction, so a torn copy would show a partial batch.
    const writer = new Database(path.join(dataDir, "toolgate.db"));
    writer.pragma("busy_timeout = 5000");
    const insert = writer.prepare("insert into audit_events (at, kind, detail) values (?, 'backup.test', ?)");
    let batch = 0;
    const writeBatch = writer.transaction((n: number) => {
      for (let i = 0; i < 50; i++) insert.run(Date.now(), JSON.stringify({ batch: n }));
    });
    const timer = setInterval(() => writeBatch(batch++), 2);
    let registering = true;
    const registrations = (async () => {
      let ok = 0;
      while (registering) {
        const res = await fetch(`${app.base}/register`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ client_name: "Backup test", redirect_uris: ["http://127.0.0.1:9/cb"], token_endpoint_auth_method: "none" }),
        });
        if (res.status === 201) ok++;
        await res.arrayBuffer();
      }
      return ok;
    })();
    await new Promise((r) => setTimeout(r, 200));

    const target = path.join(tempDir("toolgate-backup-out-"), "toolgate-backup.db");
    const result = await cli(env, ["backup", "--to", target, "--json"]);
    const batchesAfter = batch;
    clearInterval(timer);
    registering = false;
    expect(await registrations).toBeGreaterThan(0);
    writer.close();
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ file: target, secretsFile: `${target}.secrets.json` });

    const copy = new Database(target, { readonly: true });
    expect(copy.pragma("integrity_check", { simple: true })).toBe("ok");
    // One self-contained file: no write-ahead log beside it.
    expect(copy.pragma("journal_mode", { simple: true })).toBe("delete");
    expect(fs.readdirSync(path.dirname(target)).sort()).toEqual(["toolgate-backup.db", "toolgate-backup.db.secrets.json"]);
    const perBatch = copy
      .prepare("select json_extract(detail, '$.batch') as b, count(*) as n from audit_events where kind = 'backup.test' group by b")
      .all() as { b: number; n: number }[];
    expect(perBatch.length).toBeGreaterThan(0);
    expect(perBatch.length).toBeLessThanOrEqual(batchesAfter);
    expect(perBatch.filter((r) => r.n !== 50)).toEqual([]);
    expect(copy.prepare("select email from users").all()).toEqual([{ email: "owner@example.test" }]);
    expect(copy.prepare("select name from mcp_servers").all()).toEqual([{ name: "Weather" }]);
    copy.close();
    // The secrets file travels with the backup, private.
    expect(fs.readFileSync(`${target}.secrets.json`, "utf8")).toBe(fs.readFileSync(path.join(dataDir, "secrets.json"), "utf8"));
    expect(fs.statSync(target).mode & 0o077).toBe(0);
    expect(fs.statSync(`${target}.secrets.json`).mode & 0o077).toBe(0);
    expect(app.output()).not.toMatch(/"level":"error"/);
  });

  it("refuses to overwrite an existing file unless --force", async () => {
    const dataDir = tempDir("toolgate-backup-b-");
    const env = await envFor(dataDir);
    const out = tempDir("toolgate-backup-out-");
    const target = path.join(out, "b.db");
    fs.writeFileSync(target, "precious");
    const refused = await cli(env, ["backup", "--to", target]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`${target} already exists; pass --force to overwrite it`);
    expect(fs.readFileSync(target, "utf8")).toBe("precious");
    // The secrets file is protected the same way.
    const other = path.join(out, "c.db");
    fs.writeFileSync(`${other}.secrets.json`, "{}");
    expect((await cli(env, ["backup", "--to", other])).code).toBe(1);
    expect(fs.existsSync(other)).toBe(false);

    const forced = await cli(env, ["backup", "--to", target, "--force"]);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toContain("Keep both files together");
    const db = new Database(target, { readonly: true });
    expect(db.pragma("quick_check", { simple: true })).toBe("ok");
    db.close();
    expect((await cli(env, ["backup", "--to", path.join(out, "missing-folder", "x.db")])).stderr).toContain("does not exist");
    expect(fs.readdirSync(out).filter((f) => f.includes("partial"))).toEqual([]);
  });
});

describe("the README's restore procedure", () => {
  it("restores into a fresh data folder: users, servers and sign-in work; secrets came along", async () => {
    const dataDir = tempDir("toolgate-restore-src-");
    const env = await envFor(dataDir);
    const app = await serve(env);
    const server = await seed(env);
    const target = path.join(tempDir("toolgate-restore-out-"), "nightly.db");
    expect((await cli(env, ["backup", "--to", target])).code).toBe(0);
    await stop(app);

    // Restore: copy the backup to toolgate.db and its secrets file to secrets.json, then start.
    const fresh = tempDir("toolgate-restore-dst-");
    fs.copyFileSync(target, path.join(fresh, "toolgate.db"));
    fs.copyFileSync(`${target}.secrets.json`, path.join(fresh, "secrets.json"));
    const restoredEnv = await envFor(fresh);
    const restored = await serve(restoredEnv);
    expect(await signInStatus(restored.base, "owner@example.test", PASSWORD)).toBe(302);
    const list = await cli(restoredEnv, ["server", "list", "--json"]);
    expect(JSON.parse(list.stdout)).toMatchObject([{ id: server.id, name: "Weather", owner: "owner@example.test", tools: 1 }]);
    expect(fs.readFileSync(path.join(fresh, "secrets.json"), "utf8")).toBe(fs.readFileSync(path.join(dataDir, "secrets.json"), "utf8"));
  });

  it("restores in place: stop, replace the file, remove -wal and -shm, start; later changes are gone", async () => {
    const dataDir = tempDir("toolgate-restore-inplace-");
    const env = await envFor(dataDir);
    let app = await serve(env);
    await seed(env);
    const target = path.join(tempDir("toolgate-restore-out-"), "before.db");
    expect((await cli(env, ["backup", "--to", target])).code).toBe(0);
    expect((await cli(env, ["user", "add", "--email", "late@example.test", "--password-stdin"], PASSWORD + "\n")).code).toBe(0);

    await stop(app);
    fs.copyFileSync(target, path.join(dataDir, "toolgate.db"));
    for (const suffix of ["-wal", "-shm"]) fs.rmSync(path.join(dataDir, `toolgate.db${suffix}`), { force: true });
    app = await serve(env);
    const users = JSON.parse((await cli(env, ["user", "list", "--json"])).stdout) as { email: string }[];
    expect(users.map((u) => u.email)).toEqual(["owner@example.test"]);
    expect(await signInStatus(app.base, "owner@example.test", PASSWORD)).toBe(302);
    expect(await (await fetch(`${app.base}/readyz`)).json()).toEqual({ status: "ready" });
  });
});
