/**
 * OAuth clients: dynamically registered ones (RFC 7591) and Client ID Metadata Document clients
 * (a client_id that is an https URL; the validated document is cached in oauth_clients).
 */
import { and, eq, lt, notExists, sql } from "drizzle-orm";
import type { AppContext } from "~/context.server";
import { setClientLogo, storeClientLogo } from "./client-logos.server";
import type { ClientRow as StoredClientRow } from "~/db/hot.server";
import type { Db, Tx } from "~/db/store.server";
import { newId, safeEqual, sha256Hex } from "~/utils/crypto.server";
import { recordAudit } from "./audit.server";
import { clientKeysOf, verifyClientAssertion } from "./client-assertion.server";
import { parseClientMetadata, type TokenEndpointAuthMethod, type ValidatedClientMetadata } from "./client-metadata.server";
import { OAuthError } from "./errors.server";
import {
  checkClientIdUrl,
  createMetadataDocumentFetcher,
  MetadataDocumentError,
  type MetadataDocumentFetcher,
} from "./metadata-document-fetch.server";
import { newClientSecret, secretHash } from "./tokens.server";

export type OAuthClient = {
  id: string;
  kind: "registered" | "metadata_document" | "machine";
  clientName: string;
  clientUri: string | null;
  logoUri: string | null;
  redirectUris: string[];
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  /** The grant types the client registered (RFC 7591 §2; absent means authorization_code and refresh_token). */
  grantTypes: string[];
};

type ClientRow = StoredClientRow;

const UNNAMED = "Unnamed application";

function toClient(row: ClientRow): OAuthClient {
  return {
    id: row.id,
    kind: row.kind,
    clientName: row.clientName,
    clientUri: row.clientUri,
    logoUri: row.logoUri,
    redirectUris: JSON.parse(row.redirectUris) as string[],
    tokenEndpointAuthMethod: row.tokenEndpointAuthMethod as TokenEndpointAuthMethod,
    grantTypes: grantTypesOf(row.metadata),
  };
}

const DEFAULT_GRANT_TYPES = ["authorization_code", "refresh_token"];

function grantTypesOf(metadata: string): string[] {
  try {
    const value = (JSON.parse(metadata) as { grant_types?: unknown }).grant_types;
    return Array.isArray(value) && value.every((g) => typeof g === "string") ? value : DEFAULT_GRANT_TYPES;
  } catch {
    return DEFAULT_GRANT_TYPES;
  }
}

let defaultFetcher: MetadataDocumentFetcher | undefined;
function productionFetcher(): MetadataDocumentFetcher {
  defaultFetcher ??= createMetadataDocumentFetcher();
  return defaultFetcher;
}

export function isMetadataDocumentClientId(clientId: string): boolean {
  return clientId.startsWith("https://");
}

/**
 * The client named by `clientId`, or null when it is unknown or its metadata document cannot be
 * fetched or is invalid. Metadata documents are fetched again once their cached copy expired.
 */
export async function resolveClient(
  ctx: AppContext,
  clientId: string,
  fetcher: MetadataDocumentFetcher = productionFetcher(),
): Promise<OAuthClient | null> {
  if (typeof clientId !== "string" || clientId.length === 0 || clientId.length > 2000) return null;
  const row = await ctx.store.hot.clientById(ctx.db, clientId);
  if (!isMetadataDocumentClientId(clientId)) return row && row.kind !== "metadata_document" ? toClient(row) : null;
  if (row && row.kind === "metadata_document" && row.expiresAt !== null && row.expiresAt > ctx.now()) {
    return toClient(row);
  }
  return fetchOnce(ctx, clientId, fetcher);
}

/**
 * Per-database fetch state: concurrent requests for one document share one fetch, and a document
 * that could not be used is not fetched again for a minute. Without this, every request naming an
 * unreachable or invalid client id would make us send a request to its host (amplification).
 */
type FetchState = { inFlight: Map<string, Promise<OAuthClient | null>>; failedUntil: Map<string, number> };
const fetchStates = new WeakMap<object, FetchState>();
export const FAILED_FETCH_RETRY_MS = 60_000;
const MAX_REMEMBERED_FAILURES = 1000;

function fetchOnce(ctx: AppContext, clientId: string, fetcher: MetadataDocumentFetcher): Promise<OAuthClient | null> {
  let state = fetchStates.get(ctx.db);
  if (!state) {
    state = { inFlight: new Map(), failedUntil: new Map() };
    fetchStates.set(ctx.db, state);
  }
  const failedUntil = state.failedUntil.get(clientId);
  if (failedUntil !== undefined && failedUntil > ctx.now()) return Promise.resolve(null);
  const pending = state.inFlight.get(clientId);
  if (pending) return pending;
  const { inFlight, failedUntil: failures } = state;
  const promise = refreshMetadataDocumentClient(ctx, clientId, fetcher)
    .then((client) => {
      if (client) failures.delete(clientId);
      else {
        if (failures.size >= MAX_REMEMBERED_FAILURES) failures.delete(failures.keys().next().value!);
        failures.set(clientId, ctx.now() + FAILED_FETCH_RETRY_MS);
      }
      return client;
    })
    .finally(() => inFlight.delete(clientId));
  inFlight.set(clientId, promise);
  return promise;
}

/** Fetches, validates and caches a Client ID Metadata Document. Null when it is not acceptable. */
async function refreshMetadataDocumentClient(
  ctx: AppContext,
  clientId: string,
  fetcher: MetadataDocumentFetcher,
): Promise<OAuthClient | null> {
  let fetched;
  try {
    fetched = await fetcher(clientId);
  } catch (error) {
    ctx.logger.warn("client metadata document unavailable", {
      clientId,
      reason: error instanceof MetadataDocumentError ? error.message : String(error),
    });
    return null;
  }
  const doc = fetched.document as Record<string, unknown> | null;
  const reject = (reason: string) => {
    ctx.logger.warn("client metadata document rejected", { clientId, reason });
    return null;
  };
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return reject("not a JSON object");
  // The document must name itself: simple string comparison with the URL it was fetched from.
  if (doc.client_id !== clientId) return reject("client_id does not equal the document URL");
  if (typeof doc.client_name !== "string") return reject("client_name is required");
  // A document is public; it cannot carry a shared secret.
  if ("client_secret" in doc || "client_secret_expires_at" in doc) return reject("documents must not contain a client secret");
  // A document may also name public keys the client signs with (private_key_jwt, RFC 7523 §2.2):
  // the way such a client becomes confidential, e.g. to redeem enterprise ID-JAGs.
  const signsWithKeys = doc.token_endpoint_auth_method === "private_key_jwt";
  if (doc.token_endpoint_auth_method !== undefined && doc.token_endpoint_auth_method !== "none" && !signsWithKeys) {
    return reject(`token_endpoint_auth_method ${String(doc.token_endpoint_auth_method)} is not supported for metadata documents`);
  }
  if (signsWithKeys && !clientKeysOf(JSON.stringify(doc))) {
    return reject("private_key_jwt needs jwks (public keys) or an https jwks_uri");
  }
  if (signsWithKeys && typeof doc.jwks_uri === "string" && checkClientIdUrl(doc.jwks_uri)) {
    return reject(`jwks_uri ${checkClientIdUrl(doc.jwks_uri)}`);
  }
  let metadata;
  try {
    metadata = parseClientMetadata({ ...doc, token_endpoint_auth_method: "none" }, "none");
  } catch (error) {
    return reject(error instanceof OAuthError ? error.description : "invalid metadata");
  }
  const now = ctx.now();
  const values = {
    kind: "metadata_document" as const,
    secretHash: null,
    tokenEndpointAuthMethod: signsWithKeys ? "private_key_jwt" : "none",
    clientName: metadata.clientName ?? UNNAMED,
    clientUri: metadata.clientUri,
    logoUri: metadata.logoUri,
    redirectUris: JSON.stringify(metadata.redirectUris),
    // The keys a private_key_jwt document names are kept with the rest (no other column holds them).
    metadata: signsWithKeys ? withKeys(storedMetadata(metadata), doc) : storedMetadata(metadata),
    expiresAt: now + fetched.cacheSeconds * 1000,
  };
  const { oauthClients } = ctx.store.tables;
  const previous = (
    await ctx.db.select({ logoUri: oauthClients.logoUri, logoDigest: oauthClients.logoDigest }).from(oauthClients).where(eq(oauthClients.id, clientId)).limit(1)
  )[0];
  await ctx.db
    .insert(oauthClients)
    .values({ id: clientId, createdAt: now, ...values })
    .onConflictDoUpdate({ target: oauthClients.id, set: values });
  // The logo is fetched again only when the document names another one (or none was stored yet).
  if (metadata.logoUri === null) {
    if (previous?.logoDigest) await setClientLogo(ctx, clientId, null);
  } else if (fetcher.fetchLogo && (previous?.logoUri !== metadata.logoUri || !previous.logoDigest)) {
    await setClientLogo(ctx, clientId, await storeClientLogo(ctx, clientId, metadata.logoUri, fetcher.fetchLogo));
  }
  const row = await ctx.store.hot.clientById(ctx.db, clientId);
  return row ? toClient(row) : null;
}

/**
 * The metadata column: only what no other column holds (redirect URIs, name and URIs have their
 * own), so nothing a client sends is stored twice (docs/decisions/032-bounded-client-storage.md).
 */
function withKeys(stored: string, doc: Record<string, unknown>): string {
  const keys = typeof doc.jwks_uri === "string" ? { jwks_uri: doc.jwks_uri } : { jwks: doc.jwks };
  return JSON.stringify({ ...(JSON.parse(stored) as Record<string, unknown>), ...keys });
}

function storedMetadata(metadata: ValidatedClientMetadata): string {
  return JSON.stringify({
    grant_types: metadata.grantTypes,
    response_types: metadata.responseTypes,
    scope: metadata.scope,
    ...(metadata.softwareId !== null ? { software_id: metadata.softwareId } : {}),
    ...(metadata.softwareVersion !== null ? { software_version: metadata.softwareVersion } : {}),
    ...(metadata.applicationType !== null ? { application_type: metadata.applicationType } : {}),
  });
}

export type RegistrationResult = { response: Record<string, unknown>; client: OAuthClient };

/**
 * Registers a client (RFC 7591 §3.1). A confidential client gets a secret, returned here once and
 * stored only as its hash. `input` is the parsed JSON body.
 */
export async function registerClient(ctx: AppContext, input: unknown): Promise<RegistrationResult> {
  const metadata = parseClientMetadata(input, "client_secret_basic");
  const id = newId();
  const now = ctx.now();
  const secret = metadata.tokenEndpointAuthMethod === "none" ? null : newClientSecret();
  const registered: Record<string, unknown> = {
    redirect_uris: metadata.redirectUris,
    token_endpoint_auth_method: metadata.tokenEndpointAuthMethod,
    grant_types: metadata.grantTypes,
    response_types: metadata.responseTypes,
    scope: metadata.scope,
    ...(metadata.clientName !== null ? { client_name: metadata.clientName } : {}),
    ...(metadata.clientUri !== null ? { client_uri: metadata.clientUri } : {}),
    ...(metadata.logoUri !== null ? { logo_uri: metadata.logoUri } : {}),
    ...(metadata.softwareId !== null ? { software_id: metadata.softwareId } : {}),
    ...(metadata.softwareVersion !== null ? { software_version: metadata.softwareVersion } : {}),
    ...(metadata.applicationType !== null ? { application_type: metadata.applicationType } : {}),
  };
  const clientName = metadata.clientName ?? UNNAMED;
  await ctx.store.transaction(async (tx) => {
    // A statement prepared once (app/db/hot-sqlite.server.ts): registration is a hot, open endpoint.
    await ctx.store.hot.insertRegisteredClient(tx, {
      id,
      secretHash: secret ? secretHash(secret) : null,
      tokenEndpointAuthMethod: metadata.tokenEndpointAuthMethod,
      clientName,
      clientUri: metadata.clientUri,
      logoUri: metadata.logoUri,
      redirectUris: JSON.stringify(metadata.redirectUris),
      metadata: storedMetadata(metadata),
      createdAt: now,
    });
    await recordAudit(ctx, tx, {
      kind: "client.registered",
      clientId: id,
      actor: `client:${id}`,
      // Small: the row has the metadata; the event says what kind of client and names its
      // redirect URIs by count and digest, not by a copy.
      detail: {
        tokenEndpointAuthMethod: metadata.tokenEndpointAuthMethod,
        redirectUriCount: metadata.redirectUris.length,
        redirectUrisSha256: sha256Hex(JSON.stringify(metadata.redirectUris)),
      },
    });
  });
  const response = {
    client_id: id,
    client_id_issued_at: Math.floor(now / 1000),
    ...(secret ? { client_secret: secret, client_secret_expires_at: 0 } : {}),
    ...registered,
  };
  // What toClient() would read back from the row just written.
  const client: OAuthClient = {
    id,
    kind: "registered",
    clientName,
    clientUri: metadata.clientUri,
    logoUri: metadata.logoUri,
    redirectUris: [...metadata.redirectUris],
    tokenEndpointAuthMethod: metadata.tokenEndpointAuthMethod,
    grantTypes: [...metadata.grantTypes],
  };
  return { response, client };
}

/** Marks a client as used (at most once a minute, to keep the token endpoint write-light). */
export function touchClient(ctx: AppContext, clientId: string, tx: Tx = ctx.db): Promise<void> {
  return ctx.store.hot.touchClient(tx, clientId, ctx.now());
}

export type ClientCredentials = {
  clientId: string;
  /** How the client presented itself. */
  method: TokenEndpointAuthMethod;
  secret: string | null;
  /** Whether the credentials came in an HTTP Basic header (a failure then answers WWW-Authenticate). */
  basicHeader?: boolean;
  /** private_key_jwt: the client assertion (RFC 7523 §2.2). */
  assertion?: string;
};

const secretCheckHash = secretHash("tgs_not-a-real-secret");

/**
 * Authenticates a client at /token and /revoke by its registered method (RFC 6749 §2.3, OAuth 2.1
 * §2.4): a confidential client must present its secret the registered way; a public client none.
 * Failure is 401 invalid_client, with WWW-Authenticate when Basic was tried (RFC 6749 §5.2).
 */
export async function authenticateClient(
  ctx: AppContext,
  credentials: ClientCredentials,
  fetcher?: MetadataDocumentFetcher,
): Promise<OAuthClient> {
  const fail = (detail: string) => {
    const error = new OAuthError("invalid_client", "Client authentication failed", 401, detail);
    if (credentials.basicHeader) error.withHeader("WWW-Authenticate", 'Basic realm="toolgate"');
    return error;
  };
  const client = await resolveClient(ctx, credentials.clientId, fetcher);
  if (!client) {
    safeEqual(secretCheckHash, secretHash(credentials.secret ?? ""));
    throw fail("unknown client");
  }
  if (client.tokenEndpointAuthMethod === "none") {
    if (credentials.method !== "none") throw fail("a public client presented a secret");
    return client;
  }
  if (credentials.method !== client.tokenEndpointAuthMethod) {
    throw fail(`client authenticated with ${credentials.method}, registered ${client.tokenEndpointAuthMethod}`);
  }
  if (client.tokenEndpointAuthMethod === "private_key_jwt") {
    const metadata = await ctx.store.hot.clientMetadata(ctx.db, client.id);
    const keys = metadata !== undefined ? clientKeysOf(metadata) : null;
    if (!keys || credentials.assertion === undefined) throw fail("private_key_jwt client without keys or assertion");
    await verifyClientAssertion(ctx, client.id, keys, credentials.assertion, fetcher);
    return client;
  }
  const { oauthClients } = ctx.store.tables;
  const row = (await ctx.db.select({ secretHash: oauthClients.secretHash }).from(oauthClients).where(eq(oauthClients.id, client.id)).limit(1))[0];
  if (!row?.secretHash || !safeEqual(row.secretHash, secretHash(credentials.secret ?? ""))) throw fail("wrong client secret");
  return client;
}

/**
 * Removes registered clients that hold no grant and were not used for `clientIdleDays` (counted
 * from registration when never used). Metadata-document clients without grants are forgotten
 * once their cached document expired; they are fetched again on next use.
 */
export async function deleteIdleClients(ctx: AppContext, tx: Db = ctx.store.db): Promise<number> {
  const { grants, oauthClients } = ctx.store.tables;
  const now = ctx.now();
  const cutoff = now - ctx.config.clientIdleDays * 24 * 3600 * 1000;
  const noGrant = notExists(tx.select({ one: sql`1` }).from(grants).where(eq(grants.clientId, oauthClients.id)));
  const idleRegistered = await tx
    .delete(oauthClients)
    .where(
      and(
        eq(oauthClients.kind, "registered"),
        sql`coalesce(${oauthClients.lastUsedAt}, ${oauthClients.createdAt}) < ${cutoff}`,
        noGrant,
      ),
    )
    .returning({ id: oauthClients.id });
  const staleDocuments = await tx
    .delete(oauthClients)
    .where(and(eq(oauthClients.kind, "metadata_document"), lt(oauthClients.expiresAt, now), noGrant))
    .returning({ id: oauthClients.id });
  return idleRegistered.length + staleDocuments.length;
}
