/**
 * Client metadata validation shared by dynamic registration (RFC 7591 §2) and Client ID Metadata
 * Documents. Turns untrusted JSON into typed metadata or throws an OAuthError.
 */
import { z } from "zod";
import { findUnsafeCharacter } from "~/utils/display-text";
import { stableMessage } from "~/utils/zod-messages";
import { OAuthError } from "./errors.server";
import { checkRedirectUriForRegistration } from "./redirect-uri.server";
import { DEFAULT_SCOPE, SUPPORTED_SCOPES } from "./metadata.server";

export type TokenEndpointAuthMethod = "none" | "client_secret_basic" | "client_secret_post" | "private_key_jwt";

const CONTROL = /[\x00-\x1f\x7f]/;

const displayText = (max: number) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .refine((v) => !CONTROL.test(v), "must not contain control characters");

/** An http(s) URL a user may be shown or the page may load: https, or http on a loopback host. */
function isWebUrl(value: string, allowLoopbackHttp: boolean): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.username || url.password) return false;
  if (url.protocol === "https:") return true;
  return allowLoopbackHttp && url.protocol === "http:" && ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
}

/**
 * Storage bounds (docs/decisions/032-bounded-client-storage.md): a registration is open to anyone,
 * so what one can make us store is capped: the number of redirect URIs (each at most 2000
 * characters, checkRedirectUriForRegistration) and the size of all metadata together.
 */
export const MAX_REDIRECT_URIS = 10;
export const MAX_METADATA_CHARS = 8192;

export const clientMetadataSchema = z.object({
  redirect_uris: z
    .array(z.string())
    .min(1, "at least one redirect URI is required")
    .max(MAX_REDIRECT_URIS, `at most ${MAX_REDIRECT_URIS} redirect URIs are allowed`),
  client_name: displayText(100).optional(),
  client_uri: z.string().max(2000).optional(),
  logo_uri: z.string().max(2000).optional(),
  grant_types: z.array(z.string()).max(10).optional(),
  response_types: z.array(z.string()).max(10).optional(),
  token_endpoint_auth_method: z.string().max(100).optional(),
  scope: z.string().max(1000).optional(),
  // OpenID Connect Registration §2; the 2026-07-28 MCP revision asks registering clients to send it.
  application_type: z.enum(["web", "native"]).optional(),
  software_id: displayText(200).optional(),
  software_version: displayText(100).optional(),
  contacts: z.array(z.string().max(320)).max(10).optional(),
  tos_uri: z.string().max(2000).optional(),
  policy_uri: z.string().max(2000).optional(),
});

export type ValidatedClientMetadata = {
  clientName: string | null;
  clientUri: string | null;
  logoUri: string | null;
  redirectUris: string[];
  grantTypes: string[];
  responseTypes: string[];
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  scope: string;
  softwareId: string | null;
  softwareVersion: string | null;
  applicationType: "web" | "native" | null;
};

type ParsedMetadata = z.infer<typeof clientMetadataSchema>;

/**
 * Every field a page may show must be plain visible text: a direction override or an invisible
 * character in a client's name would change how the consent page reads around it
 * (docs/decisions/031-consent-screen-truth.md).
 */
function checkDisplayFields(m: ParsedMetadata): void {
  const fields: [string, string | undefined][] = [
    ["client_name", m.client_name],
    ["client_uri", m.client_uri],
    ["logo_uri", m.logo_uri],
    ["tos_uri", m.tos_uri],
    ["policy_uri", m.policy_uri],
    ["software_id", m.software_id],
    ["software_version", m.software_version],
    ...(m.contacts ?? []).map((c): [string, string] => ["contacts", c]),
  ];
  for (const [field, value] of fields) {
    const found = value === undefined ? null : findUnsafeCharacter(value);
    if (found) {
      throw invalidMetadata(`${field} must not contain control, formatting, direction or invisible characters (found ${found})`);
    }
  }
}

// A confidential client may also register the JWT bearer grant, to redeem ID-JAGs (enterprise-managed authorization).
const GRANT_TYPES = new Set(["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:jwt-bearer"]);
const AUTH_METHODS = new Set<string>(["none", "client_secret_basic", "client_secret_post"]);

const invalidMetadata = (description: string) => new OAuthError("invalid_client_metadata", description);

/** Field name and problem of the first zod issue, phrased for error_description. */
function describeIssue(error: z.ZodError, input: unknown): string {
  const issue = error.issues[0]!;
  const field = issue.path.filter((p) => typeof p === "string").join(".") || "body";
  if (isMissing(issue, input)) return `${field} is required`;
  return `${field}: ${issue.message}`;
}

/** Whether the issue is a member that is absent from `input` (zod 4 issues do not carry the value). */
function isMissing(issue: z.core.$ZodIssue, input: unknown): boolean {
  if (issue.code !== "invalid_type") return false;
  let value = input;
  for (const key of issue.path) {
    if (value === null || typeof value !== "object" || !Object.hasOwn(value, key)) return true;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value === undefined;
}

/**
 * Validates client metadata (RFC 7591 §2). `defaultAuthMethod` is what an absent
 * token_endpoint_auth_method means: client_secret_basic for registration (RFC 7591 §2), none for
 * metadata documents (which cannot hold a shared secret).
 */
export function parseClientMetadata(input: unknown, defaultAuthMethod: TokenEndpointAuthMethod): ValidatedClientMetadata {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw invalidMetadata("The client metadata must be a JSON object");
  }
  const parsed = clientMetadataSchema.safeParse(input, { error: stableMessage });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    if (issue.path[0] === "redirect_uris") {
      throw new OAuthError("invalid_redirect_uri", isMissing(issue, input)
        ? "redirect_uris is required"
        : `redirect_uris: ${issue.message}`);
    }
    throw invalidMetadata(describeIssue(parsed.error, input));
  }
  const m = parsed.data;

  for (const uri of m.redirect_uris) {
    const problem = checkRedirectUriForRegistration(uri, m.application_type ?? null);
    if (problem) throw new OAuthError("invalid_redirect_uri", problem);
  }
  checkDisplayFields(m);
  // The fields kept (zod dropped every other member), measured as they are stored.
  const size = JSON.stringify(m).length;
  if (size > MAX_METADATA_CHARS) {
    throw invalidMetadata(
      `The client metadata is too large (${size} characters; at most ${MAX_METADATA_CHARS} for redirect URIs, names and URIs together)`,
    );
  }

  if (m.client_uri !== undefined && !isWebUrl(m.client_uri, true)) {
    throw invalidMetadata("client_uri must be an https URL");
  }
  // The consent page may show the logo, so it must come from an https origin.
  if (m.logo_uri !== undefined && !isWebUrl(m.logo_uri, false)) {
    throw invalidMetadata("logo_uri must be an https URL");
  }
  for (const field of ["tos_uri", "policy_uri"] as const) {
    if (m[field] !== undefined && !isWebUrl(m[field]!, true)) throw invalidMetadata(`${field} must be an https URL`);
  }

  const grantTypes = m.grant_types ?? ["authorization_code", "refresh_token"];
  const unsupportedGrant = grantTypes.find((g) => !GRANT_TYPES.has(g));
  if (unsupportedGrant) throw invalidMetadata(`grant_types: ${unsupportedGrant} is not supported`);
  if (!grantTypes.includes("authorization_code")) {
    throw invalidMetadata("grant_types must include authorization_code");
  }
  const responseTypes = m.response_types ?? ["code"];
  const unsupportedResponse = responseTypes.find((r) => r !== "code");
  if (unsupportedResponse) throw invalidMetadata(`response_types: ${unsupportedResponse} is not supported`);

  const method = m.token_endpoint_auth_method ?? defaultAuthMethod;
  if (!AUTH_METHODS.has(method)) {
    throw invalidMetadata(`token_endpoint_auth_method: ${method} is not supported`);
  }

  // RFC 7591 §2: the server may replace requested scopes; we only know one.
  const requested = (m.scope ?? DEFAULT_SCOPE).split(" ").filter(Boolean);
  const scope = requested.filter((s) => (SUPPORTED_SCOPES as readonly string[]).includes(s)).join(" ") || DEFAULT_SCOPE;

  return {
    clientName: m.client_name ?? null,
    clientUri: m.client_uri ?? null,
    logoUri: m.logo_uri ?? null,
    redirectUris: m.redirect_uris,
    grantTypes,
    responseTypes,
    tokenEndpointAuthMethod: method as TokenEndpointAuthMethod,
    scope,
    softwareId: m.software_id ?? null,
    softwareVersion: m.software_version ?? null,
    applicationType: m.application_type ?? null,
  };
}
