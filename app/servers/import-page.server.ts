/** The OpenAPI import page's server side: reading the upload, the preview, applying (decision 044). */
import type { AppContext } from "~/context.server";
import {
  applyImport,
  deleteDraft,
  fetchOpenApiDocument,
  OPENAPI_LIMITS,
  OpenApiImportError,
  parseOpenApiDocument,
  planImport,
  readDraft,
  saveDraft,
  type ImportPlan,
} from "./openapi-import.server";
import { ValidationError, type ServerSummary } from "./servers.server";

const MIB = 1024 * 1024;

/** Refuses a body that cannot hold a document under the size cap before the form is parsed. */
export function checkUploadSize(request: Request): string | null {
  const declared = Number(request.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > OPENAPI_LIMITS.documentBytes + 64 * 1024) {
    return `The document is larger than ${OPENAPI_LIMITS.documentBytes / MIB} MiB, the most Toolgate imports.`;
  }
  return null;
}

/** Stores the pasted, uploaded or fetched document as a draft after checking it parses. */
export async function startImport(ctx: AppContext, server: ServerSummary, form: FormData): Promise<{ ok: true; draftId: string } | { ok: false; error: string }> {
  const pasted = form.get("document");
  const file = form.get("file");
  const url = form.get("url");
  const sources: string[] = [];
  if (typeof pasted === "string" && pasted.trim()) sources.push("paste");
  if (file && typeof file === "object" && "size" in file && (file as Blob).size > 0) sources.push("file");
  if (typeof url === "string" && url.trim()) sources.push("url");
  if (sources.length === 0) return { ok: false, error: "Paste a document, choose a file, or enter the document's URL." };
  if (sources.length > 1) return { ok: false, error: "Give the document one way only: pasted, as a file, or by URL." };
  let text: string;
  let source: string;
  let sourceUrl: string | undefined;
  try {
    if (sources[0] === "file") {
      const blob = file as File;
      if (blob.size > OPENAPI_LIMITS.documentBytes) return { ok: false, error: `The document is larger than ${OPENAPI_LIMITS.documentBytes / MIB} MiB, the most Toolgate imports.` };
      text = await blob.text();
      source = blob.name || "uploaded file";
    } else if (sources[0] === "url") {
      sourceUrl = (url as string).trim();
      text = await fetchOpenApiDocument(sourceUrl);
      source = sourceUrl;
    } else {
      text = pasted as string;
      source = "pasted";
    }
    await parseOpenApiDocument(text, { sourceUrl });
  } catch (error) {
    if (error instanceof OpenApiImportError) return { ok: false, error: error.message };
    throw error;
  }
  return { ok: true, draftId: await saveDraft(ctx, server.id, text, source) };
}

export type PreviewRow = {
  toolName: string;
  key: string;
  method: string;
  path: string;
  summary: string;
  status: "new" | "changed" | "unchanged" | "refused";
  reason: string | null;
};

/** The preview of a draft: every operation with its fate, filtered by `query` (name, path or summary). */
export async function previewImport(ctx: AppContext, server: ServerSummary, draftId: string, query: string) {
  const draft = await readDraft(ctx, server.id, draftId);
  if (!draft) return null;
  const parsed = await parseOpenApiDocument(draft.document, { sourceUrl: /^https?:/.test(draft.source) ? draft.source : undefined });
  let plan: ImportPlan | null = null;
  let planError: string | null = null;
  try {
    plan = await planImport(ctx, server.id, parsed, { baseUrl: server.baseUrl ?? parsed.servers[0] ?? "http://unset.invalid" });
  } catch (error) {
    if (!(error instanceof OpenApiImportError)) throw error;
    planError = error.message;
  }
  const status = new Map<string, PreviewRow["status"]>();
  for (const t of plan?.added ?? []) status.set(t.tool.name, "new");
  for (const t of plan?.changed ?? []) status.set(t.tool.name, "changed");
  for (const t of plan?.unchanged ?? []) status.set(t.tool.name, "unchanged");
  const needle = query.trim().toLowerCase();
  const rows: PreviewRow[] = parsed.operations
    .map((op) => ({
      toolName: op.toolName,
      key: op.key,
      method: op.method,
      path: op.path,
      summary: op.summary || (op.tool?.description ?? "").split("\n")[0]!.slice(0, 300),
      status: op.refused ? ("refused" as const) : (status.get(op.toolName) ?? "new"),
      reason: op.refused,
    }))
    .filter((r) => !needle || [r.toolName, r.key, r.summary].some((t) => t.toLowerCase().includes(needle)));
  return {
    title: parsed.title,
    specVersion: parsed.specVersion,
    source: draft.source,
    servers: parsed.servers,
    total: parsed.operations.length,
    rows,
    removed: plan?.removed.map((t) => t.name) ?? [],
    planError,
  };
}

/** Applies the picked operations of a draft with the chosen base URL; the draft is then deleted. */
export async function finishImport(ctx: AppContext, server: ServerSummary, form: FormData) {
  const draftId = String(form.get("draft") ?? "");
  const draft = await readDraft(ctx, server.id, draftId);
  if (!draft) return { ok: false as const, error: "This import expired. Start again." };
  const picked = form.getAll("op").filter((v): v is string => typeof v === "string");
  if (picked.length === 0) return { ok: false as const, error: "Pick at least one operation to import." };
  const choice = String(form.get("baseUrl") ?? "");
  const baseUrl = choice === "custom" ? String(form.get("customBaseUrl") ?? "") : choice;
  if (!baseUrl.trim()) return { ok: false as const, error: "Choose the base URL of the API." };
  try {
    const parsed = await parseOpenApiDocument(draft.document, { sourceUrl: /^https?:/.test(draft.source) ? draft.source : undefined });
    const plan = await planImport(ctx, server.id, parsed, { include: picked, baseUrl });
    const counts = await applyImport(ctx, server.id, plan);
    await deleteDraft(ctx, server.id, draftId);
    return { ok: true as const, counts };
  } catch (error) {
    if (error instanceof OpenApiImportError) return { ok: false as const, error: error.message };
    if (error instanceof ValidationError) return { ok: false as const, error: Object.values(error.fieldErrors).join(" ") };
    throw error;
  }
}
