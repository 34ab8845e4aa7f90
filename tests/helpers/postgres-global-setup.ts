import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { startCluster } from "./postgres-cluster";

declare module "vitest" {
  export interface ProvidedContext {
    /** A superuser URL of the test run's PostgreSQL cluster (its `postgres` database). */
    postgresUrl: string;
    /** Where the setup writes why the cluster could not start (the file is absent otherwise). */
    postgresFailureFile: string;
  }
}

export const POSTGRES_URL_VARIABLE = "TOOLGATE_TEST_POSTGRES_URL";

/**
 * One PostgreSQL cluster per test run (tests/helpers/postgres-cluster.ts: nothing to install by
 * hand). It starts in the background, so test files that do not use PostgreSQL never wait for it;
 * tests/helpers/postgres.ts waits until it accepts connections. TOOLGATE_TEST_POSTGRES_URL set to
 * a superuser URL uses that server instead.
 */
export default async function setup(project: TestProject) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-pg-setup-"));
  const failureFile = path.join(dir, "failure.txt");
  project.provide("postgresFailureFile", failureFile);
  const cleanup = () => fs.rmSync(dir, { recursive: true, force: true });

  const external = process.env[POSTGRES_URL_VARIABLE];
  if (external) {
    project.provide("postgresUrl", external);
    return cleanup;
  }
  let announce: (url: string) => void = () => {};
  const announced = new Promise<string>((resolve) => (announce = resolve));
  const started = startCluster({ onUrl: announce }).catch((error: unknown) => {
    fs.writeFileSync(failureFile, String(error instanceof Error ? error.message : error));
    return undefined;
  });
  const url = await Promise.race([announced, started.then(() => "")]);
  process.env[POSTGRES_URL_VARIABLE] = url;
  project.provide("postgresUrl", url);

  return async () => {
    await (await started)?.stop();
    cleanup();
  };
}
