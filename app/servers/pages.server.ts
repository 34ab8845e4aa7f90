/** Shared pieces of the server and tool pages: ownership lookups, form parsing, flash messages. */
import { redirect, type AppLoadContext } from "@remix-run/node";
import { commitSession, getSession, requireRequestUser, type SessionUser } from "~/auth/session.server";
import { storeShownOnce, takeShownOnce } from "~/auth/shown-once.server";
import type { AppContext } from "~/context.server";
import { fieldErrorsOf, getServer, getTool, type ServerSummary } from "./servers.server";
import { parseHeadersText, toolDefinitionSchema, type ToolDefinition } from "./tool-definition.server";
import type { ToolRow } from "./tool-execution.server";
import { parseUntrustedJson } from "~/utils/json.server";
import { SCHEMA_LIMITS } from "./json-schema.server";
import type { ToolFormField, ToolHintField as HintField } from "./tool-form";

/** Not found, whether the thing is missing or belongs to someone else (they look the same). */
export function notFound(): Response {
  return new Response("Not found", { status: 404 });
}

/** The signed-in user and one of their servers; throws a 404 for any other server id. */
export async function requireOwnServer(context: AppLoadContext, request: Request, serverId: string | undefined) {
  const user = await requireRequestUser(context, request);
  const server = serverId ? await getServer(context.ctx, user.id, serverId) : null;
  if (!server) throw notFound();
  return { user, server };
}

export async function requireOwnTool(context: AppLoadContext, request: Request, serverId: string | undefined, toolId: string | undefined) {
  const { user, server } = await requireOwnServer(context, request, serverId);
  const tool = toolId ? await getTool(context.ctx, user.id, server.id, toolId) : null;
  if (!tool) throw notFound();
  return { user, server, tool };
}

/** The posted form, or a 400 when the body is not a form at all (a script posting JSON, say). */
export async function readForm(request: Request): Promise<FormData> {
  try {
    return await request.formData();
  } catch {
    throw new Response("Send the form as application/x-www-form-urlencoded or multipart/form-data.", { status: 400 });
  }
}

export type { ToolFormField };
const HINT_FIELDS: HintField[] = ["readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"];
export type ToolFormValues = Record<ToolFormField, string>;
export type ToolFormErrors = Partial<Record<ToolFormField | "form", string>>;

const FIELD_OF: Record<string, ToolFormField> = {
  name: "name",
  description: "description",
  inputSchema: "inputSchema",
  "endpoint.url": "endpointUrl",
  "endpoint.method": "endpointMethod",
  "endpoint.headers": "endpointHeaders",
  "endpoint.params": "endpointParams",
  outputSchema: "outputSchema",
  "annotations.title": "title",
  "annotations.readOnlyHint": "readOnlyHint",
  "annotations.destructiveHint": "destructiveHint",
  "annotations.idempotentHint": "idempotentHint",
  "annotations.openWorldHint": "openWorldHint",
  annotations: "title",
};

/** A JSON field of the form: undefined when empty, else the parsed value or an error message. */
function jsonField(text: string, what: string): { value?: unknown; error?: string } {
  if (text.trim() === "") return {};
  try {
    return { value: JSON.parse(text) };
  } catch (error) {
    return { error: `${what} is not valid JSON: ${(error as Error).message}` };
  }
}

// Values are echoed back into the form; cap them so an absurd post is not sent back whole.
const ECHO_LIMIT = 70_000;

/** Reads the tool form into a tool definition, or field errors with the values to show again. */
export function parseToolForm(
  form: FormData,
): { ok: true; tool: ToolDefinition; values: ToolFormValues } | { ok: false; errors: ToolFormErrors; values: ToolFormValues } {
  const text = (k: string) => {
    const v = form.get(k);
    return typeof v === "string" ? v.slice(0, ECHO_LIMIT) : "";
  };
  const values: ToolFormValues = {
    name: text("name"),
    description: text("description"),
    inputSchema: text("inputSchema"),
    endpointUrl: text("endpointUrl"),
    endpointMethod: text("endpointMethod") || "POST",
    endpointHeaders: text("endpointHeaders"),
    endpointParams: text("endpointParams"),
    outputSchema: text("outputSchema"),
    title: text("title"),
    readOnlyHint: text("readOnlyHint"),
    destructiveHint: text("destructiveHint"),
    idempotentHint: text("idempotentHint"),
    openWorldHint: text("openWorldHint"),
  };
  const errors: ToolFormErrors = {};
  const params = jsonField(values.endpointParams, "The argument mapping");
  if (params.error) errors.endpointParams = params.error;
  const output = jsonField(values.outputSchema, "The output schema");
  if (output.error) errors.outputSchema = output.error;
  // Each hint is a select of "" (not set: the MCP default applies), "true" or "false".
  const annotations: Record<string, unknown> = {};
  if (values.title.trim()) annotations.title = values.title;
  for (const hint of HINT_FIELDS) {
    if (values[hint] === "true") annotations[hint] = true;
    else if (values[hint] === "false") annotations[hint] = false;
    else if (values[hint] !== "") errors[hint] = "Choose yes, no or not set.";
  }
  let inputSchema: unknown = undefined;
  if (values.inputSchema.trim() === "") errors.inputSchema = "Enter an input schema (a JSON object).";
  else {
    try {
      inputSchema = parseUntrustedJson(values.inputSchema, SCHEMA_LIMITS.depth);
    } catch (error) {
      errors.inputSchema = `The input schema is not valid JSON: ${(error as Error).message}`;
    }
  }
  const headers = parseHeadersText(values.endpointHeaders);
  if (!headers.ok) errors.endpointHeaders = headers.message;
  const parsed = toolDefinitionSchema.safeParse({
    name: values.name,
    description: values.description,
    inputSchema: errors.inputSchema ? {} : inputSchema,
    endpoint: {
      url: values.endpointUrl,
      method: values.endpointMethod,
      headers: headers.ok ? headers.headers : {},
      ...(params.value !== undefined ? { params: params.value } : {}),
    },
    ...(Object.keys(annotations).length ? { annotations } : {}),
    ...(output.value !== undefined ? { outputSchema: output.value } : {}),
  });
  if (!parsed.success) {
    for (const [path, message] of Object.entries(fieldErrorsOf(parsed.error))) {
      const field = FIELD_OF[path] ?? FIELD_OF[path.split(".").slice(0, 2).join(".")] ?? FIELD_OF[path.split(".")[0]!];
      if (field) errors[field] ??= message;
      else errors.form ??= message;
    }
  }
  if (Object.keys(errors).length > 0 || !parsed.success) return { ok: false, errors, values };
  return { ok: true, tool: parsed.data, values };
}

/** Maps a domain ValidationError's keys ("name", "endpoint.url") onto the tool form's fields. */
export function toolFormErrorsOf(fieldErrors: Record<string, string>): ToolFormErrors {
  const out: ToolFormErrors = {};
  for (const [path, message] of Object.entries(fieldErrors)) out[FIELD_OF[path] ?? "form"] ??= message;
  return out;
}

const signingSecretPurpose = (serverId: string) => `signing_secret:${serverId}`;

/**
 * A redirect that carries a one-time message, and optionally a signing secret to show once: the
 * secret is stored server-side (encrypted, read once, minutes to live) and only a reference to it
 * goes into the flash, so it is never in a cookie (docs/decisions/034-secrets-shown-once.md).
 */
export async function redirectWithFlash(
  ctx: AppContext,
  request: Request,
  to: string,
  flash: { toast?: string; signingSecret?: { userId: string; serverId: string; secret: string } },
) {
  const session = await getSession(ctx, request);
  if (flash.toast) session.flash("toast", flash.toast);
  if (flash.signingSecret) {
    const { userId, serverId, secret } = flash.signingSecret;
    session.flash("signingSecretRef", await storeShownOnce(ctx, userId, signingSecretPurpose(serverId), secret));
  }
  return redirect(to, { headers: { "Set-Cookie": await commitSession(ctx, session) } });
}

/**
 * Reads and clears the flash: the toast, and the signing secret if the flash refers to one of
 * `userId`'s for `serverId` (taking it: a second load shows nothing).
 */
export async function readFlash(ctx: AppContext, request: Request, userId?: string, serverId?: string) {
  const session = await getSession(ctx, request);
  const toast = session.get("toast") ?? null;
  const ref = session.get("signingSecretRef") ?? null;
  const signingSecret = ref && userId && serverId ? await takeShownOnce(ctx, userId, signingSecretPurpose(serverId), ref) : null;
  const setCookie = toast || ref ? await commitSession(ctx, session) : null;
  return { toast, signingSecret, setCookie };
}

export function toolFormValuesOf(def: ToolDefinition): ToolFormValues {
  return {
    name: def.name,
    description: def.description,
    inputSchema: JSON.stringify(def.inputSchema, null, 2),
    endpointUrl: def.endpoint.url,
    endpointMethod: def.endpoint.method,
    endpointHeaders: Object.entries(def.endpoint.headers)
      .map(([k, v]) => `${k}: ${v}`)
      .join("\n"),
    endpointParams: def.endpoint.params ? JSON.stringify(def.endpoint.params, null, 2) : "",
    outputSchema: def.outputSchema ? JSON.stringify(def.outputSchema, null, 2) : "",
    title: def.annotations?.title ?? "",
    readOnlyHint: hintText(def.annotations?.readOnlyHint),
    destructiveHint: hintText(def.annotations?.destructiveHint),
    idempotentHint: hintText(def.annotations?.idempotentHint),
    openWorldHint: hintText(def.annotations?.openWorldHint),
  };
}

const hintText = (v: boolean | undefined) => (v === undefined ? "" : String(v));


export type { ServerSummary, SessionUser, ToolRow };
