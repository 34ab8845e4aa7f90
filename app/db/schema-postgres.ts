/**
 * The schema's PostgreSQL instance: the tables of app/db/schema-definition.ts built with
 * PostgreSQL's column helpers, typed with the same row types as the SQLite tables.
 * drizzle.config.postgres.ts generates drizzle-postgres/ from this file: it must export tables only.
 */
import { postgresColumns, type PgTableOf } from "./columns-postgres";
import { defineSchema } from "./schema-definition";

type Tables = ReturnType<typeof defineSchema>;
type PgTables = { [K in keyof Tables]: PgTableOf<Tables[K]> };

const schema = defineSchema(postgresColumns) as unknown as PgTables;

export const {
  users,
  identities,
  invitations,
  sessions,
  shownOnceSecrets,
  signInThrottle,
  mcpServers,
  tools,
  openapiDrafts,
  oauthClients,
  authorizationRequests,
  grants,
  grantTools,
  authorizationCodes,
  tokenFamilies,
  accessTokens,
  refreshTokens,
  auditEvents,
  clientLogos,
  replayGuard,
} = schema;
