import path from "node:path";
import { z } from "zod";

/** Thrown when the environment is invalid; the message names the variable. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

const seconds = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const bool = (fallback: boolean) =>
  z
    .enum(["true", "false", "1", "0", "yes", "no"])
    .default(fallback ? "true" : "false")
    .transform((v) => v === "true" || v === "1" || v === "yes");

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default("127.0.0.1"),
  PUBLIC_URL: z.string().optional(),
  TOOLGATE_DATA_DIR: z.string().min(1).default("./data"),
  TOOLGATE_SESSION_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
  TOOLGATE_ACCESS_TOKEN_TTL: seconds(3600),
  TOOLGATE_REFRESH_TOKEN_TTL: seconds(30 * 24 * 3600),
  TOOLGATE_REFRESH_GRACE: z.coerce.number().int().min(0).max(300).default(30),
  TOOLGATE_AUTH_REQUEST_TTL: seconds(600),
  TOOLGATE_CODE_TTL: z.coerce.number().int().min(1).max(60).default(60),
  TOOLGATE_SESSION_TTL: seconds(14 * 24 * 3600),
  TOOLGATE_TOOL_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  TOOLGATE_VALIDATION_TIMEOUT_MS: z.coerce.number().int().min(50).max(60_000).default(1000),
  TOOLGATE_TOOL_MAX_RESPONSE_BYTES: z.coerce.number().int().min(1024).default(1024 * 1024),
  TOOLGATE_CLIENT_IDLE_DAYS: z.coerce.number().int().min(1).default(30),
  TOOLGATE_AUDIT_RETENTION_DAYS: z.coerce.number().int().min(1).default(90),
  TOOLGATE_TRUSTED_PROXIES: z.string().default(""),
  TOOLGATE_PASSWORD_SIGNIN: bool(true),
  TOOLGATE_RATE_LIMIT: z.enum(["on", "off"]).default("on"),
  TOOLGATE_ALLOW_NEWER_SCHEMA: bool(false),
  TOOLGATE_LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
  TOOLGATE_GITHUB_CLIENT_ID: z.string().trim().min(1).optional(),
  TOOLGATE_GITHUB_CLIENT_SECRET: z.string().min(1).optional(),
  TOOLGATE_GOOGLE_CLIENT_ID: z.string().trim().min(1).optional(),
  TOOLGATE_GOOGLE_CLIENT_SECRET: z.string().min(1).optional(),
  TOOLGATE_OIDC_ISSUER: z
    .string()
    .url("must be a URL")
    .refine(isAcceptableIssuer, "must be an https:// URL (http:// only for localhost or 127.0.0.1) without query or fragment")
    .optional(),
  TOOLGATE_OIDC_CLIENT_ID: z.string().trim().min(1).optional(),
  TOOLGATE_OIDC_CLIENT_SECRET: z.string().min(1).optional(),
  TOOLGATE_OIDC_NAME: z.string().trim().min(1).max(60).default("Single sign-on"),
  TOOLGATE_ALLOWED_EMAIL_DOMAINS: z
    .string()
    .default("")
    .transform(list)
    .refine((l) => l.every((d) => /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,62}$/.test(d)), "must be a comma-separated list of domain names (example.com,example.org)"),
  TOOLGATE_GITHUB_ALLOWED_ORGS: z
    .string()
    .default("")
    .transform(list)
    .refine((l) => l.every((o) => /^[a-z0-9](?:[a-z0-9-]{0,38})$/.test(o)), "must be a comma-separated list of GitHub organisation logins"),
  TOOLGATE_LINK_BY_EMAIL: bool(false),
  TOOLGATE_ENTERPRISE_IDP_ISSUERS: z
    .string()
    .default("")
    .transform((v) => v.split(",").map((s) => s.trim()).filter(Boolean))
    .refine(
      (l) => l.every(isAcceptableIssuer),
      "must be a comma-separated list of issuer URLs (https://, or http:// only for localhost or 127.0.0.1; no query or fragment)",
    ),
  TOOLGATE_DPOP_NONCE: bool(false),
});

function list(value: string): string[] {
  return value.split(",").map((s) => s.trim().toLowerCase()).filter(Boolean);
}

/** OpenID Connect Discovery 1.0 §3: the issuer is an https URL with no query or fragment. */
function isAcceptableIssuer(value: string): boolean {
  try {
    const url = new URL(value);
    if (url.search || url.hash || url.username || url.password) return false;
    if (url.protocol === "https:") return true;
    return url.protocol === "http:" && ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
  } catch {
    return false;
  }
}

export type Config = {
  port: number;
  host: string;
  /** The issuer: PUBLIC_URL without a trailing slash, no path. */
  publicUrl: string;
  secureCookies: boolean;
  dataDir: string;
  sessionSecret?: string;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  refreshGraceSeconds: number;
  authRequestTtlSeconds: number;
  codeTtlSeconds: number;
  sessionTtlSeconds: number;
  toolTimeoutMs: number;
  /** Budget for validating one tool call's arguments off the main thread. */
  validationTimeoutMs: number;
  toolMaxResponseBytes: number;
  clientIdleDays: number;
  auditRetentionDays: number;
  trustedProxies: string[];
  passwordSignIn: boolean;
  /** Per-address rate limits on sign-in, /register, /token, /revoke and /authorize (off for benchmarks). */
  rateLimit: boolean;
  /**
   * Start on a database migrated by a newer version of Toolgate (refused otherwise, decision 017):
   * only to roll back a rolling upgrade whose migrations merely add (docs/self-hosting.md).
   */
  allowNewerSchema: boolean;
  logLevel: "debug" | "info" | "warn" | "error" | "silent";
  /** Sign-in through identity providers; a provider is present only when fully configured. */
  identityProviders: {
    github?: { clientId: string; clientSecret: string; allowedOrgs: string[] };
    google?: { clientId: string; clientSecret: string };
    oidc?: { issuer: string; clientId: string; clientSecret: string; name: string };
    /** Verified emails in these domains may create a member account on first sign-in. */
    allowedEmailDomains: string[];
    /** A first provider sign-in may attach to an existing account with the same verified email. */
    linkByEmail: boolean;
  };
  /** Issuers of Identity Assertion JWT Authorization Grants (ID-JAG) Toolgate trusts, as configured. */
  enterpriseIdpIssuers: string[];
  /** Every DPoP proof must carry a server nonce (RFC 9449 §8 and §9). */
  dpopNonce: boolean;
};

/** Parses the environment once at boot. Throws ConfigError naming the first bad variable. */
export function parseConfig(env: Record<string, string | undefined>): Config {
  const cleaned = Object.fromEntries(
    Object.entries(env).filter(([, v]) => v !== undefined && v !== ""),
  );
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`Invalid environment variable ${issue.path.join(".")}: ${issue.message}`);
  }
  const e = parsed.data;
  const publicUrl = parsePublicUrl(e.PUBLIC_URL ?? `http://localhost:${e.PORT}`);
  return {
    port: e.PORT,
    host: e.HOST,
    publicUrl,
    secureCookies: publicUrl.startsWith("https:"),
    dataDir: path.resolve(e.TOOLGATE_DATA_DIR),
    sessionSecret: e.TOOLGATE_SESSION_SECRET,
    accessTokenTtlSeconds: e.TOOLGATE_ACCESS_TOKEN_TTL,
    refreshTokenTtlSeconds: e.TOOLGATE_REFRESH_TOKEN_TTL,
    refreshGraceSeconds: e.TOOLGATE_REFRESH_GRACE,
    authRequestTtlSeconds: e.TOOLGATE_AUTH_REQUEST_TTL,
    codeTtlSeconds: e.TOOLGATE_CODE_TTL,
    sessionTtlSeconds: e.TOOLGATE_SESSION_TTL,
    toolTimeoutMs: e.TOOLGATE_TOOL_TIMEOUT_MS,
    validationTimeoutMs: e.TOOLGATE_VALIDATION_TIMEOUT_MS,
    toolMaxResponseBytes: e.TOOLGATE_TOOL_MAX_RESPONSE_BYTES,
    clientIdleDays: e.TOOLGATE_CLIENT_IDLE_DAYS,
    auditRetentionDays: e.TOOLGATE_AUDIT_RETENTION_DAYS,
    trustedProxies: e.TOOLGATE_TRUSTED_PROXIES.split(",").map((s) => s.trim()).filter(Boolean),
    passwordSignIn: e.TOOLGATE_PASSWORD_SIGNIN,
    rateLimit: e.TOOLGATE_RATE_LIMIT === "on",
    allowNewerSchema: e.TOOLGATE_ALLOW_NEWER_SCHEMA,
    logLevel: e.TOOLGATE_LOG_LEVEL,
    identityProviders: {
      github: pair("GITHUB", e.TOOLGATE_GITHUB_CLIENT_ID, e.TOOLGATE_GITHUB_CLIENT_SECRET, (clientId, clientSecret) => ({
        clientId,
        clientSecret,
        allowedOrgs: e.TOOLGATE_GITHUB_ALLOWED_ORGS,
      })),
      google: pair("GOOGLE", e.TOOLGATE_GOOGLE_CLIENT_ID, e.TOOLGATE_GOOGLE_CLIENT_SECRET, (clientId, clientSecret) => ({
        clientId,
        clientSecret,
      })),
      oidc: oidcConfig(e),
      allowedEmailDomains: e.TOOLGATE_ALLOWED_EMAIL_DOMAINS,
      linkByEmail: e.TOOLGATE_LINK_BY_EMAIL,
    },
    // Compared by exact string with the ID-JAG's iss, as configured (a trailing slash matters).
    enterpriseIdpIssuers: e.TOOLGATE_ENTERPRISE_IDP_ISSUERS,
    dpopNonce: e.TOOLGATE_DPOP_NONCE,
  };
}

/** A provider is on when both its client id and secret are set; one without the other is a mistake. */
function pair<T>(
  prefix: string,
  id: string | undefined,
  secret: string | undefined,
  build: (id: string, secret: string) => T,
): T | undefined {
  if (!id && !secret) return undefined;
  if (!id) throw new ConfigError(`Invalid environment variable TOOLGATE_${prefix}_CLIENT_ID: required when TOOLGATE_${prefix}_CLIENT_SECRET is set`);
  if (!secret) throw new ConfigError(`Invalid environment variable TOOLGATE_${prefix}_CLIENT_SECRET: required when TOOLGATE_${prefix}_CLIENT_ID is set`);
  return build(id, secret);
}

function oidcConfig(e: z.infer<typeof envSchema>): Config["identityProviders"]["oidc"] {
  const issuer = e.TOOLGATE_OIDC_ISSUER;
  const clientId = e.TOOLGATE_OIDC_CLIENT_ID;
  const secret = e.TOOLGATE_OIDC_CLIENT_SECRET;
  if (!issuer && !clientId && !secret) return undefined;
  if (!issuer) throw new ConfigError("Invalid environment variable TOOLGATE_OIDC_ISSUER: required when TOOLGATE_OIDC_CLIENT_ID is set");
  return pair("OIDC", clientId, secret, (id, s) => ({ issuer, clientId: id, clientSecret: s, name: e.TOOLGATE_OIDC_NAME }));
}

function parsePublicUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`Invalid environment variable PUBLIC_URL: "${value}" is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError("Invalid environment variable PUBLIC_URL: must start with http:// or https://");
  }
  if ((url.pathname !== "/" && url.pathname !== "") || url.search || url.hash || url.username || url.password) {
    throw new ConfigError(
      "Invalid environment variable PUBLIC_URL: must be an origin only (no path, query, fragment or credentials), because it is the OAuth issuer",
    );
  }
  return url.origin;
}
