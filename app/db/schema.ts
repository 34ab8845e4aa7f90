/**
 * The schema's SQLite instance: the tables domain code imports, with their TypeScript row types.
 * The definition itself is in app/db/schema-definition.ts, shared with PostgreSQL
 * (app/db/schema-postgres.ts); docs/storage.md describes every table.
 * drizzle.config.ts generates drizzle/ from this file: it must export tables only.
 */
import { sqliteColumns } from "./columns";
import { defineSchema } from "./schema-definition";

const schema = defineSchema(sqliteColumns);

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
