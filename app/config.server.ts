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
  TOOLGATE_TOOL_MAX_RESPONSE_BYTES: z.coerce.number().int().min(1024).default(1024 * 1024),
  TOOLGATE_CLIENT_IDLE_DAYS: z.coerce.number().int().min(1).default(30),
  TOOLGATE_AUDIT_RETENTION_DAYS: z.coerce.number().int().min(1).default(90),
  TOOLGATE_TRUSTED_PROXIES: z.string().default(""),
  TOOLGATE_PASSWORD_SIGNIN: bool(true),
  TOOLGATE_LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
});

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
  toolMaxResponseBytes: number;
  clientIdleDays: number;
  auditRetentionDays: number;
  trustedProxies: string[];
  passwordSignIn: boolean;
  logLevel: "debug" | "info" | "warn" | "error" | "silent";
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
    toolMaxResponseBytes: e.TOOLGATE_TOOL_MAX_RESPONSE_BYTES,
    clientIdleDays: e.TOOLGATE_CLIENT_IDLE_DAYS,
    auditRetentionDays: e.TOOLGATE_AUDIT_RETENTION_DAYS,
    trustedProxies: e.TOOLGATE_TRUSTED_PROXIES.split(",").map((s) => s.trim()).filter(Boolean),
    passwordSignIn: e.TOOLGATE_PASSWORD_SIGNIN,
    logLevel: e.TOOLGATE_LOG_LEVEL,
  };
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
