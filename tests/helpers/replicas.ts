/**
 * Several replicas of the built app (`toolgate serve`, separate processes) on one PostgreSQL
 * database, behind a round-robin load balancer on 127.0.0.1: no sticky sessions, every request
 * goes to the next replica. Each replica has its own data folder holding the same secrets.json,
 * the documented way replicas share their secrets.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { runCli, type CliResult } from "./built-app";

const ROOT = path.resolve(import.meta.dirname, "../..");

export type Replica = {
  index: number;
  /** The replica's own address (bypassing the balancer). */
  url: string;
  dataDir: string;
  process: ChildProcess;
  output(): string;
  alive(): boolean;
};

export type ReplicaSet = {
  /** PUBLIC_URL of every replica: the balancer. */
  url: string;
  replicas: Replica[];
  env: NodeJS.ProcessEnv;
  /** Which replica answered each request through the balancer, in order. */
  answeredBy: number[];
  /** Runs `toolgate <args>` against the shared database (from replica 0's data folder). */
  cli(args: string[], stdin?: string): Promise<CliResult>;
  /** Sends `signal` to one replica and waits for it to exit. */
  kill(index: number, signal?: NodeJS.Signals): Promise<void>;
  stop(): Promise<void>;
};

/** The balancer's listening server, made first so that PUBLIC_URL is known before the replicas start. */
export type Balancer = { server: http.Server; url: string };

/**
 * A server listening on a port the kernel chose, for the balancer. Reserved by listening, not
 * picked and freed: a freed port can be taken meanwhile, by an outgoing connection's local port
 * among others (three replicas open dozens of PostgreSQL connections while they start).
 */
export async function listenBalancer(): Promise<Balancer> {
  const server = http.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  return { server, url: `http://localhost:${(server.address() as AddressInfo).port}` };
}

export type ReplicaOptions = {
  count: number;
  databaseUrl: string;
  /** The balancer (listenBalancer), when the test needs PUBLIC_URL before the replicas start. */
  balancer?: Balancer;
  env?: Record<string, string>;
};

/**
 * Waits for the replica's "listening" log line (it listens on PORT=0, a port the kernel chose, for
 * the same reason as the balancer), then for /readyz; returns the replica's address.
 */
async function waitHealthy(child: ChildProcess, output: () => string): Promise<string> {
  const deadline = Date.now() + 30_000;
  let url: string | undefined;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`toolgate exited early:\n${output()}`);
    url ??= listeningUrl(output());
    if (url) {
      try {
        const res = await fetch(`${url}/readyz`);
        if (res.ok) return url;
      } catch {
        // not answering yet
      }
    }
    if (Date.now() > deadline) throw new Error(`toolgate did not become ready:\n${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The address in the server's "listening" log line, once it has been written. */
function listeningUrl(output: string): string | undefined {
  for (const line of output.split("\n")) {
    if (!line.includes('"listening"')) continue;
    try {
      const entry = JSON.parse(line) as { msg?: string; url?: string };
      if (entry.msg === "listening" && entry.url) return entry.url;
    } catch {
      // a line still being written
    }
  }
  return undefined;
}

/** Starts `count` replicas (all at once, so their migrations race as in a real rollout) and the balancer. */
export async function startReplicas(options: ReplicaOptions): Promise<ReplicaSet> {
  const { server: balancer, url } = options.balancer ?? (await listenBalancer());
  const secrets = JSON.stringify({ sessionSecret: randomBytes(32).toString("base64url"), dataKey: randomBytes(32).toString("base64url") }, null, 2);
  const baseEnv = {
    ...process.env,
    NODE_ENV: "production",
    HOST: "127.0.0.1",
    PUBLIC_URL: url,
    TOOLGATE_DATABASE_URL: options.databaseUrl,
    TOOLGATE_LOG_LEVEL: "info",
    // The balancer is a reverse proxy on loopback: the client address comes from X-Forwarded-For.
    TOOLGATE_TRUSTED_PROXIES: "loopback",
    ...options.env,
  } as NodeJS.ProcessEnv;

  const replicas = await Promise.all(
    Array.from({ length: options.count }, async (_, index): Promise<Replica> => {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `toolgate-replica-${index}-`));
      fs.writeFileSync(path.join(dataDir, "secrets.json"), secrets + "\n", { mode: 0o600 });
      let output = "";
      const child = spawn(process.execPath, [path.join(ROOT, "bin/toolgate.js"), "serve"], {
        env: { ...baseEnv, PORT: "0", TOOLGATE_DATA_DIR: dataDir },
        stdio: ["ignore", "pipe", "pipe"],
      });
      child.stdout!.on("data", (d) => (output += d));
      child.stderr!.on("data", (d) => (output += d));
      const replicaUrl = await waitHealthy(child, () => output);
      return { index, url: replicaUrl, dataDir, process: child, output: () => output, alive: () => child.exitCode === null && child.signalCode === null };
    }),
  );

  const answeredBy: number[] = [];
  const agents = replicas.map(() => new http.Agent({ keepAlive: true, maxSockets: 64 }));
  let next = 0;

  // Round robin per request. A replica that refuses the connection (it is gone) is skipped and
  // the request goes to the next one, as nginx's proxy_next_upstream error does: nothing of the
  // request reached it. An error after the request was sent is a 502, never a retry.
  balancer.on("request", async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    for (let attempt = 0; attempt < replicas.length; attempt++) {
      const replica = replicas[next++ % replicas.length]!;
      if (!replica.alive()) continue;
      const target = new URL(replica.url);
      const outcome = await new Promise<"done" | "refused">((resolve) => {
        const upstream = http.request(
          {
            host: target.hostname,
            port: target.port,
            method: req.method,
            path: req.url,
            agent: agents[replica.index],
            headers: { ...req.headers, "x-forwarded-for": req.socket.remoteAddress ?? "127.0.0.1" },
          },
          (answer) => {
            answeredBy.push(replica.index);
            res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
            answer.pipe(res);
            answer.on("end", () => resolve("done"));
            answer.on("error", () => {
              res.destroy();
              resolve("done");
            });
          },
        );
        upstream.on("error", (error: NodeJS.ErrnoException) => {
          if (error.code === "ECONNREFUSED" && !res.headersSent) return resolve("refused");
          if (!res.headersSent) res.writeHead(502, { "Content-Type": "text/plain" }).end("Bad gateway");
          else res.destroy();
          resolve("done");
        });
        upstream.end(body);
      });
      if (outcome === "done") return;
    }
    if (!res.headersSent) res.writeHead(503, { "Content-Type": "text/plain" }).end("No replica answered");
  });

  const stopReplica = async (replica: Replica, signal: NodeJS.Signals) => {
    if (!replica.alive()) return;
    const exited = new Promise((r) => replica.process.once("exit", r));
    replica.process.kill(signal);
    await exited;
  };

  return {
    url,
    replicas,
    env: { ...baseEnv, TOOLGATE_DATA_DIR: replicas[0]!.dataDir },
    answeredBy,
    cli: (args, stdin) => runCli(args, { ...baseEnv, TOOLGATE_DATA_DIR: replicas[0]!.dataDir }, stdin),
    kill: (index, signal = "SIGKILL") => stopReplica(replicas[index]!, signal),
    async stop() {
      await Promise.all(replicas.map((r) => stopReplica(r, "SIGTERM")));
      for (const agent of agents) agent.destroy();
      balancer.closeAllConnections();
      await new Promise((r) => balancer.close(r));
      for (const r of replicas) fs.rmSync(r.dataDir, { recursive: true, force: true });
    },
  };
}
