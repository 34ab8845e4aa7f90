/**
 * Logos of metadata-document clients (docs/decisions/041-client-logos.md). Toolgate fetches the
 * document's logo_uri under the document fetch rules, keeps it only when its bytes are a raster image
 * it recognises (PNG, JPEG, GIF, WebP: never SVG, which can carry script), stores it by the SHA-256
 * of its bytes and serves it from its own origin. A page never loads an image from a client's site,
 * so showing a logo tells that site nothing about who looks at it, and the image cannot change
 * between what Toolgate checked and what the browser shows.
 */
import { createHash } from "node:crypto";
import { eq, notInArray, sql } from "drizzle-orm";
import type { AppContext } from "~/context.server";
import type { Db } from "~/db/store.server";
import { MetadataDocumentError, type FetchedImage } from "./metadata-document-fetch.server";

export type LogoType = "image/png" | "image/jpeg" | "image/gif" | "image/webp";

const startsWith = (bytes: Uint8Array, prefix: number[], at = 0) => prefix.every((b, i) => bytes[at + i] === b);
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));

/** The image type the bytes themselves say (their magic numbers), whatever the server claimed. */
export function sniffImageType(bytes: Uint8Array): LogoType | null {
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return "image/png";
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return "image/jpeg";
  if (startsWith(bytes, ascii("GIF87a")) || startsWith(bytes, ascii("GIF89a"))) return "image/gif";
  if (startsWith(bytes, ascii("RIFF")) && startsWith(bytes, ascii("WEBP"), 8)) return "image/webp";
  return null;
}

/**
 * Fetches and stores the logo at `logoUri`, returning its digest, or null when it cannot be used
 * (the reason is logged). Never throws: a logo is decoration, and the client works without one.
 */
export async function storeClientLogo(
  ctx: AppContext,
  clientId: string,
  logoUri: string,
  fetchLogo: (url: string) => Promise<FetchedImage>,
): Promise<string | null> {
  const { clientLogos } = ctx.store.tables;
  let image: FetchedImage;
  try {
    image = await fetchLogo(logoUri);
  } catch (error) {
    ctx.logger.info("client logo unavailable", { clientId, reason: error instanceof MetadataDocumentError ? error.message : String(error) });
    return null;
  }
  const type = sniffImageType(image.bytes);
  if (!type) {
    ctx.logger.info("client logo rejected", { clientId, reason: "not a PNG, JPEG, GIF or WebP image", contentType: image.contentType ?? null });
    return null;
  }
  const digest = createHash("sha256").update(image.bytes).digest("hex");
  await ctx.db.insert(clientLogos).values({ digest, contentType: type, bytes: image.bytes, createdAt: ctx.now() }).onConflictDoNothing();
  return digest;
}

/** Points a client at its stored logo (or at none). */
export async function setClientLogo(ctx: AppContext, clientId: string, digest: string | null): Promise<void> {
  const { oauthClients } = ctx.store.tables;
  await ctx.db.update(oauthClients).set({ logoDigest: digest }).where(eq(oauthClients.id, clientId));
}

/** A stored logo by digest, for /client-logos/<digest>; null for anything else. */
export async function findClientLogo(ctx: AppContext, digest: string): Promise<{ contentType: string; bytes: Buffer } | null> {
  const { clientLogos } = ctx.store.tables;
  if (!/^[0-9a-f]{64}$/.test(digest)) return null;
  return (await ctx.db.select({ contentType: clientLogos.contentType, bytes: clientLogos.bytes }).from(clientLogos).where(eq(clientLogos.digest, digest)).limit(1))[0] ?? null;
}

/** Deletes logos no client points to any more. Returns how many. */
export async function deleteUnusedLogos(ctx: Pick<AppContext, "store">, tx: Db): Promise<number> {
  const { clientLogos, oauthClients } = ctx.store.tables;
  const used = tx.select({ digest: oauthClients.logoDigest }).from(oauthClients).where(sql`${oauthClients.logoDigest} is not null`);
  return (await tx.delete(clientLogos).where(notInArray(clientLogos.digest, used)).returning({ digest: clientLogos.digest })).length;
}


/** The served address of a client's logo, or null (self-registered clients never have one). */
export async function clientLogoUrl(ctx: AppContext, clientId: string): Promise<string | null> {
  const { oauthClients } = ctx.store.tables;
  const row = (await ctx.db
    .select({ digest: oauthClients.logoDigest, kind: oauthClients.kind })
    .from(oauthClients)
    .where(eq(oauthClients.id, clientId)).limit(1))[0];
  return row && row.kind === "metadata_document" && row.digest ? `/client-logos/${row.digest}` : null;
}
