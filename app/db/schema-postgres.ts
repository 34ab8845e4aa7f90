/**
 * The schema's PostgreSQL instance: the tables of app/db/schema-definition.ts built with
 * PostgreSQL's column helpers, typed with the same row types as the SQLite tables.
 * drizzle.config.postgres.ts generates drizzle-postgres/ from this file: it must export tables only.
 * The app itself never imports it: it builds the same instance when it first uses PostgreSQL
 * (app/db/postgres-modules.server.ts), so a SQLite installation never loads pg-core.
 */
import * as pgCore from "drizzle-orm/pg-core";
import { postgresSchema } from "./columns-postgres";

const schema = postgresSchema(pgCore);

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
  rateLimitBuckets,
} = schema;
