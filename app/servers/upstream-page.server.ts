/** The server page's "Upstream API" form: base URL and API credential (decision 043). */
import type { AppContext } from "~/context.server";
import { apiCredentialSchema, baseUrlSchema, clearApiCredential, describeApiAuth, parseApiAuth, setApiCredential, setBaseUrl } from "./api-credentials.server";
import { fieldErrorsOf, type ServerSummary } from "./servers.server";

export type UpstreamFormErrors = Partial<Record<"baseUrl" | "type" | "in" | "name" | "username" | "secret" | "form", string>>;

/** What the page shows: never the secret, only how it is sent. */
export function upstreamView(server: ServerSummary) {
  const auth = parseApiAuth(server.apiAuth);
  return { baseUrl: server.baseUrl ?? "", credential: server.hasApiSecret ? describeApiAuth(auth) : null, type: auth?.type ?? "" };
}

/**
 * Handles the intents "save-upstream" (base URL, and a credential when a secret was typed) and
 * "clear-credential". Returns a toast on success, field errors otherwise.
 */
export async function handleUpstreamForm(
  ctx: AppContext,
  ownerId: string,
  server: ServerSummary,
  form: FormData,
): Promise<{ ok: true; toast: string } | { ok: false; errors: UpstreamFormErrors }> {
  const text = (k: string) => {
    const v = form.get(k);
    return typeof v === "string" ? v.slice(0, 10_000) : "";
  };
  if (form.get("intent") === "clear-credential") {
    await clearApiCredential(ctx, ownerId, server.id);
    return { ok: true, toast: "The API credential was removed." };
  }
  const errors: UpstreamFormErrors = {};
  let baseUrl: string | null = null;
  if (text("upstreamBaseUrl").trim() !== "") {
    const parsed = baseUrlSchema.safeParse(text("upstreamBaseUrl"));
    if (parsed.success) baseUrl = parsed.data;
    else errors.baseUrl = parsed.error.issues[0]!.message;
  }
  const secret = text("apiSecret");
  let credential = null;
  if (secret !== "" || text("credentialType") !== "") {
    if (!baseUrl) errors.baseUrl ??= "Set the base URL: the credential is only sent there.";
    const type = text("credentialType");
    const input =
      type === "api-key"
        ? { type, in: text("keyIn"), name: text("keyName"), secret }
        : type === "basic"
          ? { type, username: text("basicUser"), secret }
          : { type, secret };
    const parsed = apiCredentialSchema.safeParse(input);
    if (parsed.success) credential = parsed.data;
    else Object.assign(errors, Object.fromEntries(Object.entries(fieldErrorsOf(parsed.error)).filter(([k]) => !(k in errors))));
  }
  if (Object.keys(errors).length) return { ok: false, errors };
  await setBaseUrl(ctx, ownerId, server.id, baseUrl);
  if (credential) await setApiCredential(ctx, ownerId, server.id, credential);
  return { ok: true, toast: credential ? "Saved the base URL and the API credential." : "Saved the base URL." };
}
