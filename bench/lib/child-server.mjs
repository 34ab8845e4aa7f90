// A tiny server run in its own process so it never shares an event loop with the load generator.
// Modes:
//   bare          node:http answering a small JSON body (the baseline every ratio is taken against)
//   sqlite-read   the same plus one better-sqlite3 primary-key SELECT per request
//   sqlite-insert the same plus one better-sqlite3 INSERT per request (WAL, synchronous=NORMAL)
//   pg-read       the same plus one PostgreSQL primary-key SELECT per request (`pg` Pool of 10, a
//                 prepared named statement, 10,000-row table); the database URL is BENCH_PG_URL
//   pg-insert     the same plus one PostgreSQL INSERT per request (its own commit; default
//                 durability: fsync and synchronous_commit on)
//   noop-tool     a tool endpoint: reads the JSON body, answers a small JSON result
// Prints {"port":N} on stdout once listening. Usage: node child-server.mjs <mode> <dataDir>
import http from "node:http";
import path from "node:path";

const [mode, dataDir] = process.argv.slice(2);
const BODY = JSON.stringify({ status: "ok", id: 1 });

let handler;
if (mode === "bare") {
  handler = (_req, res) => {
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(BODY) });
    res.end(BODY);
  };
} else if (mode === "sqlite-read" || mode === "sqlite-insert") {
  const { default: Database } = await import("better-sqlite3");
  const db = new Database(path.join(dataDir, `${mode}.db`));
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.exec("create table if not exists items (id text primary key, value text not null, created_at integer not null)");
  const ROWS = 10_000;
  const ids = [];
  const insert = db.prepare("insert into items (id, value, created_at) values (?, ?, ?)");
  db.transaction(() => {
    for (let i = 0; i < ROWS; i++) {
      const id = `item-${i.toString(36)}-${(i * 2654435761 % 4294967296).toString(16)}`;
      ids.push(id);
      insert.run(id, `value ${i}`, Date.now());
    }
  })();
  const select = db.prepare("select id, value, created_at from items where id = ?");
  let n = 0;
  handler =
    mode === "sqlite-read"
      ? (_req, res) => {
          const row = select.get(ids[n++ % ROWS]);
          const body = JSON.stringify({ status: "ok", id: row.id });
          res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
          res.end(body);
        }
      : (_req, res) => {
          const id = `new-${process.pid}-${n++}`;
          insert.run(id, "v", Date.now());
          const body = JSON.stringify({ status: "ok", id });
          res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
          res.end(body);
        };
} else if (mode === "pg-read" || mode === "pg-insert") {
  const { default: pg } = await import("pg");
  // The app's default pool size (TOOLGATE_DATABASE_POOL_SIZE).
  const pool = new pg.Pool({ connectionString: process.env.BENCH_PG_URL, max: 10 });
  const table = mode === "pg-read" ? "items_read" : "items_insert";
  await pool.query(`create table if not exists ${table} (id text primary key, value text not null, created_at bigint not null)`);
  const ROWS = 10_000;
  const ids = Array.from({ length: ROWS }, (_, i) => `item-${i.toString(36)}-${(i * 2654435761 % 4294967296).toString(16)}`);
  await pool.query(
    `insert into ${table} (id, value, created_at) select id, 'value ' || n, $2 from unnest($1::text[]) with ordinality as t(id, n)`,
    [ids, Date.now()],
  );
  await pool.query(`analyze ${table}`);
  const select = `select id, value, created_at from ${table} where id = $1`;
  const insert = `insert into ${table} (id, value, created_at) values ($1, $2, $3)`;
  let n = 0;
  const answer = (res, id) => {
    const body = JSON.stringify({ status: "ok", id });
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  };
  const fail = (res, error) => {
    res.writeHead(500, { "content-type": "text/plain" });
    res.end(String(error.message));
  };
  handler =
    mode === "pg-read"
      ? (_req, res) => {
          pool
            .query({ name: "bench-select", text: select, values: [ids[n++ % ROWS]] })
            .then(({ rows }) => answer(res, rows[0].id), (error) => fail(res, error));
        }
      : (_req, res) => {
          const id = `new-${process.pid}-${n++}`;
          pool
            .query({ name: "bench-insert", text: insert, values: [id, "v", Date.now()] })
            .then(() => answer(res, id), (error) => fail(res, error));
        };
} else if (mode === "noop-tool") {
  handler = (req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = JSON.stringify({ ok: true, echoBytes: Buffer.concat(chunks).length });
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
      res.end(body);
    });
  };
} else {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}

const server = http.createServer(handler);
server.keepAliveTimeout = 65_000;
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n");
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
process.on("disconnect", () => process.exit(0));
