/**
 * A server's upstream API: its base URL and the one credential Toolgate sends to it
 * (docs/decisions/043-rest-mapping-and-api-credentials.md). The secret is stored encrypted with the
 * data key, never shown again after it is set, never logged, and only attached to requests whose
 * target lies under the base URL (checked on every call: app/servers/rest-request.server.ts).
 */
import { and, eq } from "drizzle-orm";
import { z } from "zod";
import { ifMissing } from "~/utils/zod-messages";
import type { AppContext } from "~/context.server";
import { encryptText } from "~/utils/crypto.server";
import { LIMITS } from "./limits";

/** How the credential travels, without the secret: what pages and the CLI may show. */
export type ApiAuth =
  | { type: "api-key"; in: "header" | "query"; name: string }
  | { type: "bearer" }
  | { type: "basic"; username: string };

export type ApiCredential = ApiAuth & { secret: string };

// RFC 9110 §5.1 field-name = token; query names are kept to the same safe set.
const KEY_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/;
// Headers that carry framing or Toolgate's own signature: a credential may not be sent as one.
const FORBIDDEN_KEY_HEADERS = /^(host|content-length|content-type|transfer-encoding|connection|keep-alive|upgrade|te|trailer|expect|x-toolgate-.*)$/i;

const secretSchema = z
  .string(ifMissing("Enter the secret."))
  .min(1, "Enter the secret.")
  .max(LIMITS.headerValue, `Use at most ${LIMITS.headerValue} characters.`)
  // Sent in a header or a query: printable ASCII only, no line breaks (no header injection).
  .regex(/^[\x21-\x7e][\x20-\x7e]*$/, "The secret may only contain printable ASCII characters and may not start with a space.")
  .refine((s) => !s.endsWith(" "), "The secret may not end with a space.");

export const apiCredentialSchema = z.discriminatedUnion(
  "type",
  [
    z.object({
      type: z.literal("api-key"),
      in: z.enum(["header", "query"], { error: "Send the API key in a header or in the query." }),
      name: z
        .string(ifMissing("Enter the header or query parameter name."))
        .trim()
        .regex(KEY_NAME, "Use a header or parameter name of letters, digits and - _ . (up to 100).")
        .refine((n) => !FORBIDDEN_KEY_HEADERS.test(n), "That header is set by Toolgate itself."),
      secret: secretSchema,
    }),
    z.object({ type: z.literal("bearer"), secret: secretSchema }),
    z.object({
      type: z.literal("basic"),
      username: z
        .string(ifMissing("Enter the user name."))
        .min(1, "Enter the user name.")
        .max(200, "Use at most 200 characters.")
        .regex(/^[\x20-\x39\x3b-\x7e]+$/, "The user name may only contain printable ASCII characters other than a colon."),
      secret: secretSchema,
    }),
  ],
  { error: "Choose api-key, bearer or basic." },
);

/** A base URL: http(s), no credentials, query or fragment; kept without a trailing slash. */
export const baseUrlSchema = z
  .string()
  .trim()
  .min(1, "Enter the base URL.")
  .max(LIMITS.url, `Use at most ${LIMITS.url} characters.`)
  .transform((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: "custom", message: "Enter a full URL starting with http:// or https://." });
      return z.NEVER;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      ctx.addIssue({ code: "custom", message: "The base URL must start with http:// or https://." });
      return z.NEVER;
    }
    if (url.username || url.password) {
      ctx.addIssue({ code: "custom", message: "Put credentials in the API credentials, not in the URL." });
      return z.NEVER;
    }
    if (url.search || url.hash || value.includes("?") || value.includes("#")) {
      ctx.addIssue({ code: "custom", message: "The base URL may not have a query or a fragment." });
      return z.NEVER;
    }
    return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
  });

/** The non-secret part of a credential. */
export function apiAuthOf(credential: ApiCredential): ApiAuth {
  switch (credential.type) {
    case "api-key":
      return { type: "api-key", in: credential.in, name: credential.name };
    case "bearer":
      return { type: "bearer" };
    case "basic":
      return { type: "basic", username: credential.username };
  }
}

/** A one-line description for pages and the CLI ("API key in the header X-API-Key"). */
export function describeApiAuth(auth: ApiAuth | null): string {
  if (!auth) return "none";
  switch (auth.type) {
    case "api-key":
      return `API key in the ${auth.in === "header" ? "header" : "query parameter"} ${auth.name}`;
    case "bearer":
      return "Bearer token (Authorization header)";
    case "basic":
      return `Basic auth as ${auth.username}`;
  }
}

export function parseApiAuth(text: string | null): ApiAuth | null {
  if (!text) return null;
  return JSON.parse(text) as ApiAuth;
}

/** The sealed column values for a credential (also used inside the import transaction). */
export function sealedCredentialValues(ctx: AppContext, credential: ApiCredential) {
  return {
    apiAuth: JSON.stringify(apiAuthOf(credential)),
    apiSecretEnc: encryptText(ctx.secrets.dataKey, credential.secret),
  };
}

/**
 * Sets (or replaces) a server's API credential, optionally with its base URL. `ownerId` null is the
 * CLI (an operator on the host). False when the server is not the owner's.
 */
export async function setApiCredential(ctx: AppContext, ownerId: string | null, serverId: string, credential: ApiCredential, baseUrl?: string): Promise<boolean> {
  const { mcpServers } = ctx.store.tables;
  const where = ownerId === null ? eq(mcpServers.id, serverId) : and(eq(mcpServers.id, serverId), eq(mcpServers.ownerId, ownerId));
  const result = await ctx.db
    .update(mcpServers)
    .set({ ...sealedCredentialValues(ctx, credential), ...(baseUrl ? { baseUrl } : {}), updatedAt: ctx.now() })
    .where(where)
    .returning({ id: mcpServers.id });
  // Never the secret, nor the name of the header that carries it beyond its type.
  if (result.length > 0) ctx.logger.info("api credential set", { serverId, type: credential.type });
  return result.length > 0;
}

export async function clearApiCredential(ctx: AppContext, ownerId: string | null, serverId: string): Promise<boolean> {
  const { mcpServers } = ctx.store.tables;
  const where = ownerId === null ? eq(mcpServers.id, serverId) : and(eq(mcpServers.id, serverId), eq(mcpServers.ownerId, ownerId));
  const result = await ctx.db.update(mcpServers).set({ apiAuth: null, apiSecretEnc: null, updatedAt: ctx.now() }).where(where).returning({ id: mcpServers.id });
  if (result.length > 0) ctx.logger.info("api credential removed", { serverId });
  return result.length > 0;
}

/** Sets or clears (null) the base URL. False when the server is not the owner's. */
export async function setBaseUrl(ctx: AppContext, ownerId: string | null, serverId: string, baseUrl: string | null): Promise<boolean> {
  const { mcpServers } = ctx.store.tables;
  const where = ownerId === null ? eq(mcpServers.id, serverId) : and(eq(mcpServers.id, serverId), eq(mcpServers.ownerId, ownerId));
  return (await ctx.db.update(mcpServers).set({ baseUrl, updatedAt: ctx.now() }).where(where).returning({ id: mcpServers.id })).length > 0;
}
