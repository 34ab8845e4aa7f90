import { defineConfig } from "drizzle-kit";

// PostgreSQL's migrations, from the same schema definition as SQLite's (drizzle.config.ts):
// `npm run db:generate` generates both (docs/decisions/052-one-schema-two-dialects.md).
export default defineConfig({
  dialect: "postgresql",
  schema: "./app/db/schema-postgres.ts",
  out: "./drizzle-postgres",
});
