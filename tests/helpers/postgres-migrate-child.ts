// A separate process that migrates a PostgreSQL database when told to (one line on stdin), so a
// test can start several at the same moment over real, separate connections.
import { once } from "node:events";
import { migratePostgres, openPostgres } from "../../app/db/postgres.server";

const [url, migrationsFolder] = process.argv.slice(2) as [string, string];
const handle = await openPostgres({ url, migrate: false, poolSize: 2 });
process.stdout.write("ready\n");
await once(process.stdin, "data");
try {
  await migratePostgres(handle.pool, migrationsFolder, handle.target);
  process.stdout.write("migrated\n");
} catch (error) {
  process.stdout.write(`failed: ${(error as Error).message}\n`);
  process.exitCode = 1;
} finally {
  await handle.close();
  process.stdin.destroy();
}
