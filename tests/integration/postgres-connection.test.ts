import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DEFAULT_CONNECT_TIMEOUT_S,
  DEFAULT_POOL_SIZE,
  DatabaseStartError,
  isRetryableTransactionError,
  openPostgres,
  pingPostgres,
  parseDatabaseUrl,
  postgresSettingsFromEnv,
} from "../../app/db/postgres.server";
import { createTestDatabase, postgresAdminUrl, withDatabase } from "../helpers/postgres";
import { startCluster, type Cluster } from "../helpers/postgres-cluster";

const SECRET = "s3cr:et/p@ss";
const ENCODED = encodeURIComponent(SECRET);

async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function startFailure(url: string, connectTimeoutS?: number) {
  const started = Date.now();
  const error = await openPostgres({ url, connectTimeoutS, migrate: false }).then(
    async (handle) => {
      await handle.close();
      return undefined;
    },
    (e: unknown) => e,
  );
  return { error: error as Error | undefined, seconds: (Date.now() - started) / 1000 };
}

describe("TOOLGATE_DATABASE_URL parsing", () => {
  it("reads user, password, host, port and database, percent-decoded, as libpq does", () => {
    const t = parseDatabaseUrl(`postgres://tool%20gate:${ENCODED}@db.example.com:6543/tg%2Dprod`);
    expect(t).toMatchObject({
      user: "tool gate",
      password: SECRET,
      host: "db.example.com",
      port: 6543,
      database: "tg-prod",
    });
    expect(t.redacted).not.toContain(ENCODED);
    expect(t.redacted).toContain("***");
    expect(parseDatabaseUrl("postgresql://u@[::1]/d")).toMatchObject({
      host: "::1",
      port: 5432,
      database: "d",
      password: undefined,
    });
    // No database in the path: libpq uses the user name.
    expect(parseDatabaseUrl("postgres://alice:x@h")).toMatchObject({ database: "alice" });
  });

  it("maps sslmode to TLS options", () => {
    const ssl = (query: string) => parseDatabaseUrl(`postgres://u:p@db.example.com/d${query}`);
    for (const q of ["", "?sslmode=disable", "?sslmode=allow", "?sslmode=prefer"])
      expect(ssl(q).ssl, q).toBe(false);
    expect(ssl("").sslmode).toBe("prefer");
    expect(ssl("?sslmode=require").ssl).toMatchObject({ rejectUnauthorized: false });
    const full = ssl("?sslmode=verify-full").ssl;
    expect(full).toMatchObject({ rejectUnauthorized: true, servername: "db.example.com" });
    expect(full && "checkServerIdentity" in full).toBe(false);
    const ca = ssl("?sslmode=verify-ca").ssl;
    expect(ca).toMatchObject({ rejectUnauthorized: true });
    expect(ca && typeof ca.checkServerIdentity).toBe("function");

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "toolgate-ca-"));
    const file = path.join(dir, "root.crt");
    fs.writeFileSync(file, "-----BEGIN CERTIFICATE-----\n");
    expect(ssl(`?sslmode=verify-full&sslrootcert=${encodeURIComponent(file)}`).ssl).toMatchObject({
      ca: Buffer.from("-----BEGIN CERTIFICATE-----\n"),
    });
    expect(ssl("?sslmode=verify-full&sslrootcert=system").ssl).toMatchObject({ ca: undefined });
    expect(() =>
      ssl(`?sslmode=verify-full&sslrootcert=${encodeURIComponent(path.join(dir, "missing.crt"))}`),
    ).toThrow(/^TOOLGATE_DATABASE_URL: cannot read sslrootcert .*missing\.crt: ENOENT/);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("refuses what is not a PostgreSQL URL, naming the variable and never the password", () => {
    const cases: [string, RegExp][] = [
      ["not a url", /not a URL/],
      [`mysql://u:${ENCODED}@h/d`, /scheme must be postgres:\/\/ or postgresql:\/\//],
      [
        `postgres://u:${ENCODED}@h/d?sslmode=always`,
        /sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full/,
      ],
      [`postgres://u:${ENCODED}@h/d?schema=x`, /unknown parameter "schema"/],
      [`postgres://u:${ENCODED}@h/a/b`, /one database name/],
    ];
    for (const [url, message] of cases) {
      let error: unknown;
      try {
        parseDatabaseUrl(url);
      } catch (e) {
        error = e;
      }
      expect(error, url).toBeInstanceOf(DatabaseStartError);
      expect((error as Error).message, url).toMatch(/^TOOLGATE_DATABASE_URL: /);
      expect((error as Error).message, url).toMatch(message);
      expect((error as Error).message, url).not.toContain(ENCODED);
      expect((error as Error).message, url).not.toContain(SECRET);
    }
  });

  it("reads the pool size and the connect timeout from the environment", () => {
    expect(postgresSettingsFromEnv({})).toBeNull();
    expect(postgresSettingsFromEnv({ TOOLGATE_DATABASE_URL: "postgres://h/d" })).toEqual({
      url: "postgres://h/d",
      poolSize: DEFAULT_POOL_SIZE,
      connectTimeoutS: DEFAULT_CONNECT_TIMEOUT_S,
    });
    expect(
      postgresSettingsFromEnv({
        TOOLGATE_DATABASE_URL: "postgres://h/d",
        TOOLGATE_DATABASE_POOL_SIZE: "25",
        TOOLGATE_DATABASE_CONNECT_TIMEOUT_S: "60",
      }),
    ).toMatchObject({ poolSize: 25, connectTimeoutS: 60 });
    expect(() =>
      postgresSettingsFromEnv({ TOOLGATE_DATABASE_URL: "postgres://h/d", TOOLGATE_DATABASE_POOL_SIZE: "0" }),
    ).toThrow(/^TOOLGATE_DATABASE_POOL_SIZE must be a positive whole number/);
  });
});

describe("connecting at start", () => {
  it("gives up on an unreachable database after the bounded retry, naming the variable and not the password", async () => {
    const url = `postgres://toolgate:${ENCODED}@127.0.0.1:${await closedPort()}/toolgate`;
    const { error, seconds } = await startFailure(url, 2);
    expect(error).toBeInstanceOf(DatabaseStartError);
    expect(error!.message).toMatch(
      /^TOOLGATE_DATABASE_URL: cannot connect to PostgreSQL at 127\.0\.0\.1:\d+ .* after 2 s: .*ECONNREFUSED/,
    );
    expect(error!.message).toContain("TOOLGATE_DATABASE_CONNECT_TIMEOUT_S");
    expect(error!.message).not.toContain(SECRET);
    expect(error!.message).not.toContain(ENCODED);
    expect(seconds).toBeGreaterThanOrEqual(2); // it did retry for the whole period
    expect(seconds).toBeLessThan(4);
  });

  it("retries for at most 10 s by default", async () => {
    const { error, seconds } = await startFailure(
      `postgres://u:${ENCODED}@127.0.0.1:${await closedPort()}/d`,
    );
    expect(error).toBeInstanceOf(DatabaseStartError);
    expect(error!.message).toContain("after 10 s");
    expect(seconds).toBeGreaterThanOrEqual(10);
    expect(seconds).toBeLessThan(12);
  }, 20_000);

  it("stops at once on a wrong password or a missing database, without printing the password", async () => {
    const admin = new URL(postgresAdminUrl());
    const wrong = withDatabase(admin.href, "postgres", { user: admin.username, password: SECRET });
    const bad = await startFailure(wrong, 10);
    expect(bad.error).toBeInstanceOf(DatabaseStartError);
    expect(bad.error!.message).toMatch(
      /^TOOLGATE_DATABASE_URL: cannot connect to .*password authentication failed/,
    );
    expect(bad.error!.message).not.toContain(SECRET);
    expect(bad.seconds).toBeLessThan(3);

    const missing = await startFailure(withDatabase(admin.href, "tg_does_not_exist"), 10);
    expect(missing.error!.message).toMatch(
      /^TOOLGATE_DATABASE_URL: .*database "tg_does_not_exist" does not exist/,
    );
    expect(missing.error!.message).not.toContain(decodeURIComponent(admin.password));
    expect(missing.seconds).toBeLessThan(3);
  });

  it("connects without TLS when sslmode does not require it, and refuses a server without TLS under require", async () => {
    const url = await createTestDatabase();
    for (const mode of ["", "?sslmode=disable", "?sslmode=allow", "?sslmode=prefer"]) {
      const handle = await openPostgres({ url: url + mode, migrate: false });
      const { rows } = await handle.pool.query<{ one: number }>("select 1 as one");
      expect(rows, mode).toEqual([{ one: 1 }]);
      await handle.close();
    }
    const { error, seconds } = await startFailure(`${url}?sslmode=require`, 10);
    expect(error!.message).toMatch(/^TOOLGATE_DATABASE_URL: cannot connect to .*does not support SSL/);
    expect(seconds).toBeLessThan(3);
  });
});

describe("TLS per sslmode, against a server with a self-signed certificate for localhost that accepts TLS only", () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster({ tls: true });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  const at = (host: string, query: string) => {
    const url = new URL(cluster.url);
    url.hostname = host;
    return `${url.href}${query}`;
  };
  const encrypted = async (url: string) => {
    const handle = await openPostgres({ url, migrate: false });
    try {
      const { rows } = await handle.pool.query<{ ssl: boolean }>(
        "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
      );
      return rows[0]?.ssl;
    } finally {
      await handle.close();
    }
  };

  it("encrypts under prefer (the default), allow, require, verify-ca and verify-full", async () => {
    const ca = `sslrootcert=${encodeURIComponent(cluster.caFile!)}`;
    expect(await encrypted(at("127.0.0.1", ""))).toBe(true);
    expect(await encrypted(at("127.0.0.1", "?sslmode=prefer"))).toBe(true);
    expect(await encrypted(at("127.0.0.1", "?sslmode=allow"))).toBe(true);
    expect(await encrypted(at("127.0.0.1", "?sslmode=require"))).toBe(true);
    // verify-ca checks the chain, not the name (the certificate is for localhost, not 127.0.0.1).
    expect(await encrypted(at("127.0.0.1", `?sslmode=verify-ca&${ca}`))).toBe(true);
    expect(await encrypted(at("localhost", `?sslmode=verify-full&${ca}`))).toBe(true);
  });

  it("refuses, at once, a certificate that verify-full or verify-ca cannot trust, and a plain connection the server refuses", async () => {
    const ca = `sslrootcert=${encodeURIComponent(cluster.caFile!)}`;
    const wrongName = await startFailure(at("127.0.0.1", `?sslmode=verify-full&${ca}`), 10);
    expect(wrongName.error!.message).toMatch(/^TOOLGATE_DATABASE_URL: cannot connect to .*127\.0\.0\.1/);
    expect(wrongName.seconds).toBeLessThan(3);
    const untrusted = await startFailure(at("localhost", "?sslmode=verify-full"), 10);
    expect(untrusted.error!.message).toMatch(/^TOOLGATE_DATABASE_URL: cannot connect to .*self[- ]signed/);
    expect(untrusted.seconds).toBeLessThan(3);
    const untrustedCa = await startFailure(at("127.0.0.1", "?sslmode=verify-ca"), 10);
    expect(untrustedCa.error!.message).toMatch(/self[- ]signed/);
    const plain = await startFailure(at("127.0.0.1", "?sslmode=disable"), 10);
    expect(plain.error!.message).toMatch(/^TOOLGATE_DATABASE_URL: cannot connect to .*no encryption/);
    expect(plain.seconds).toBeLessThan(3);
  });
});

describe("while serving", () => {
  it("reports a lost database and recovers when it returns, without a restart", async () => {
    const cluster = await startCluster();
    try {
      const handle = await openPostgres({ url: cluster.url, migrate: false, poolSize: 2 });
      try {
        expect(await pingPostgres(handle.pool)).toBe(true);
        // An idle connection dies with the server: the pool's error must not crash the process.
        await cluster.stopServer();
        expect(await pingPostgres(handle.pool)).toBe(false);
        await expect(handle.pool.query("select 1")).rejects.toThrow();
        await cluster.startServer();
        expect(await pingPostgres(handle.pool)).toBe(true);
        const { rows } = await handle.pool.query<{ n: number }>("select count(*) as n from pg_database");
        expect(typeof rows[0]!.n).toBe("number");
      } finally {
        await handle.close();
      }
    } finally {
      await cluster.stop();
    }
  });

  it("tells a transaction aborted by a concurrent one (to be run again) from other errors", async () => {
    const url = await createTestDatabase();
    const handle = await openPostgres({ url, migrate: false, poolSize: 4 });
    try {
      await handle.pool.query(
        "create table counter (id int primary key, n int not null); insert into counter values (1, 0)",
      );
      const a = await handle.pool.connect();
      const b = await handle.pool.connect();
      try {
        await a.query("begin isolation level repeatable read");
        await b.query("begin isolation level repeatable read");
        await a.query("select n from counter where id = 1");
        await b.query("select n from counter where id = 1");
        await a.query("update counter set n = n + 1 where id = 1");
        const blocked = b.query("update counter set n = n + 1 where id = 1").catch((e: unknown) => e);
        await a.query("commit");
        const error = await blocked;
        expect(isRetryableTransactionError(error)).toBe(true);
        await b.query("rollback");
        expect(
          isRetryableTransactionError(
            await handle.pool.query("select * from missing_table").catch((e: unknown) => e),
          ),
        ).toBe(false);
        expect(isRetryableTransactionError(new Error("x", { cause: error }))).toBe(true);
      } finally {
        a.release();
        b.release();
      }
    } finally {
      await handle.close();
    }
  });
});
