/**
 * The Authorize Application page: what it shows (loadConsent) and what Approve and Deny do
 * (approveAuthorization, denyAuthorization). The route calls these after the session and the
 * anti-CSRF token were checked (docs/decisions/005-consent-csrf.md).
 */
import { and, eq, gt, isNull } from "drizzle-orm";
import type { AppContext } from "~/context.server";
import { recordAudit } from "./audit.server";
import { clientLogoUrl } from "./client-logos.server";
import {
  AuthorizePageError,
  MESSAGES,
  responseRedirectUrl,
  reverifyClient,
  type PendingAuthorizationRequest,
} from "./authorize.server";
import type { OAuthClient } from "./clients.server";
import { createOrUpdateGrant, toolsOfServer } from "./grants.server";
import { mcpResourceUrl } from "./metadata.server";
import { displayText } from "~/utils/display-text";
import { redirectDestination } from "./redirect-uri.server";
import { newAuthorizationCode, secretHash, type Tx } from "./tokens.server";

/** A problem with the submitted form that the user can fix on the same page (status 400). */
export class ConsentFormError extends Error {
  override name = "ConsentFormError";
}

export const FORM_MESSAGES = {
  noTools: "Choose at least one tool the application may use, or deny access.",
  foreignTools: "The list of tools was changed: it names tools that are not tools of this MCP server. Nothing was approved.",
  noServer: "Choose which MCP server the application may use.",
} as const;

/** How the browser gets back to the application: a web page, this computer, or an app link. */
export type RedirectKind = "web" | "loopback" | "app";

export type ClientPresentation = {
  name: string;
  /** "registered": the client registered itself (RFC 7591), so its name is unverified. */
  kind: OAuthClient["kind"];
  /** Host (host:port on this computer, or the scheme of an app link) the redirect URI opens. */
  redirectHost: string;
  /** For a loopback redirect: the port of the program on this computer. */
  redirectPort: string | null;
  redirectKind: RedirectKind;
  /** For metadata-document clients: the host that published the document (the verified fact). */
  clientIdHost: string | null;
  /** A metadata-document client's logo as Toolgate stored it (never the client's own URL). */
  logoUrl: string | null;
};

export type ConsentServer = { id: string; name: string; description: string };
/**
 * What a tool may do to data, from its MCP annotations and their defaults (MCP 2025-11-25, Tools,
 * "Tool annotations": readOnlyHint false and destructiveHint true unless said otherwise), so a tool
 * that says nothing is shown as one that may change or delete data.
 */
export type ToolEffect = "reads" | "changes" | "deletes";
export type ConsentTool = { id: string; name: string; description: string; effect: ToolEffect };

export function toolEffect(annotations: string | null): ToolEffect {
  const hints = annotations ? (JSON.parse(annotations) as { readOnlyHint?: boolean; destructiveHint?: boolean }) : {};
  if (hints.readOnlyHint === true) return "reads";
  return hints.destructiveHint === false ? "changes" : "deletes";
}

export type ConsentView = {
  requestId: string;
  client: ClientPresentation;
  scope: string;
  /** Set when the request named no resource: the servers the user may choose from. */
  choices: { id: string; name: string }[] | null;
  server: ConsentServer | null;
  tools: ConsentTool[];
};

/**
 * What the page says about where the redirect goes, so a self-asserted name cannot mislead: the
 * host the browser opens, the port of this computer, or the scheme of an app link. Schemes that
 * would open a browser on another URL are refused before a request gets here (decision 031).
 */
export function presentClient(client: OAuthClient, redirectUri: string): ClientPresentation {
  const destination = redirectDestination(redirectUri);
  let redirectHost = redirectUri;
  let redirectPort: string | null = null;
  if (destination?.kind === "loopback") {
    redirectHost = new URL(redirectUri).host;
    redirectPort = destination.port;
  } else if (destination?.kind === "app") {
    redirectHost = destination.scheme;
  } else if (destination?.kind === "web") {
    redirectHost = destination.host;
  }
  let clientIdHost: string | null = null;
  if (client.kind === "metadata_document") {
    try {
      clientIdHost = new URL(client.id).host;
    } catch {
      clientIdHost = null;
    }
  }
  return {
    // Cleaned here too, so that not even the page's data carries a character the page would not show.
    name: displayText(client.clientName || "Unnamed application"),
    kind: client.kind,
    redirectHost: displayText(redirectHost),
    redirectPort,
    redirectKind: destination?.kind ?? "web",
    clientIdHost,
    logoUrl: null,
  };
}

// The page's reads, prepared once per connection (the query builder would prepare each anew per load).
async function ownedServer(ctx: AppContext, userId: string, serverId: string): Promise<ConsentServer | null> {
  return (await ctx.store.hot.ownedServer(ctx.db, serverId, userId)) ?? null;
}

async function serverTools(ctx: AppContext, serverId: string): Promise<ConsentTool[]> {
  return (await ctx.store.hot.consentTools(ctx.db, serverId)).map(({ annotations, ...tool }) => ({ ...tool, effect: toolEffect(annotations) }));
}

/**
 * The server this request is for: the one its resource named (which the user must own: "You do not
 * have access to this MCP server."), or, when it named none, the one the user picked.
 */
export async function selectServer(
  ctx: AppContext,
  request: PendingAuthorizationRequest,
  userId: string,
  chosenServerId: string | null,
): Promise<ConsentServer | null> {
  const serverId = request.serverId ?? chosenServerId;
  if (!serverId) return null;
  const server = await ownedServer(ctx, userId, serverId);
  if (!server) throw new AuthorizePageError(MESSAGES.noAccess, 403);
  return server;
}

/** Everything the consent page shows for a pending request and the signed-in user. */
export async function loadConsent(
  ctx: AppContext,
  request: PendingAuthorizationRequest,
  userId: string,
  chosenServerId: string | null,
): Promise<ConsentView> {
  const client = await reverifyClient(ctx, request);
  let choices: ConsentView["choices"] = null;
  let server: ConsentServer | null;
  if (request.serverId) {
    server = await selectServer(ctx, request, userId, null);
  } else {
    choices = await ctx.store.hot.ownedServers(ctx.db, userId);
    // Preselect the first server so the page always shows a tool list (with JavaScript off too).
    server = await selectServer(ctx, request, userId, chosenServerId ?? choices[0]?.id ?? null);
  }
  return {
    requestId: request.id,
    client: { ...presentClient(client, request.redirectUri), logoUrl: client.kind === "metadata_document" ? await clientLogoUrl(ctx, client.id) : null },
    scope: request.scope,
    choices,
    server,
    tools: server ? await serverTools(ctx, server.id) : [],
  };
}

export type ConsentDecision = {
  user: { id: string };
  request: PendingAuthorizationRequest;
  /** The server picked on the page, when the request named none. */
  chosenServerId: string | null;
  /** Tool ids ticked on the page. */
  toolIds: string[];
};

export type ConsentOutcome = {
  /** The client's redirect URI with the response parameters. */
  location: string;
  redirectKind: RedirectKind;
  clientName: string;
  serverName: string | null;
};

/** Marks the request answered; false when it was answered (or expired) meanwhile: a request is answered once. */
async function completeRequest(ctx: AppContext, tx: Tx, requestId: string, serverId: string | null): Promise<boolean> {
  const { authorizationRequests } = ctx.store.tables;
  const now = ctx.now();
  const result = await tx
    .update(authorizationRequests)
    .set({ completedAt: now, ...(serverId ? { serverId } : {}) })
    .where(
      and(
        eq(authorizationRequests.id, requestId),
        isNull(authorizationRequests.completedAt),
        gt(authorizationRequests.expiresAt, now),
      ),
    )
    .returning({ id: authorizationRequests.id });
  return result.length === 1;
}

/**
 * Approve: in one transaction, create or update the grant with the chosen tools, issue a single-use
 * authorization code bound to client, redirect URI, PKCE challenge, resource, scope and user
 * (OAuth 2.1 §4.1.2), mark the request answered and record the audit event. Returns where the
 * browser goes: the redirect URI with code, state and iss (RFC 9207 §2).
 */
export async function approveAuthorization(ctx: AppContext, decision: ConsentDecision): Promise<ConsentOutcome> {
  const { authorizationCodes } = ctx.store.tables;
  const { request, user } = decision;
  const client = await reverifyClient(ctx, request);
  const server = await selectServer(ctx, request, user.id, decision.chosenServerId);
  if (!server) throw new ConsentFormError(FORM_MESSAGES.noServer);
  const code = newAuthorizationCode();
  const now = ctx.now();
  await ctx.store.transaction(async (tx) => {
    const chosen = await toolsOfServer(ctx, tx, server.id, decision.toolIds);
    if (!chosen.ok) throw new ConsentFormError(chosen.reason === "none" ? FORM_MESSAGES.noTools : FORM_MESSAGES.foreignTools);
    if (!await completeRequest(ctx, tx, request.id, request.serverId ? null : server.id)) {
      throw new AuthorizePageError(MESSAGES.expired);
    }
    const { grantId, created } = await createOrUpdateGrant(ctx, tx, {
      userId: user.id,
      clientId: client.id,
      serverId: server.id,
      scope: request.scope,
      toolIds: chosen.tools.map((t) => t.id),
    });
    await tx.insert(authorizationCodes)
      .values({
        codeHash: secretHash(code),
        grantId,
        clientId: client.id,
        userId: user.id,
        serverId: server.id,
        redirectUri: request.redirectUri,
        redirectUriProvided: request.redirectUriProvided,
        codeChallenge: request.codeChallenge,
        scope: request.scope,
        resource: mcpResourceUrl(ctx, server.id),
        createdAt: now,
        expiresAt: now + ctx.config.codeTtlSeconds * 1000,
      });
    await recordAudit(ctx, tx, {
      kind: "authorization.approved",
      serverId: server.id,
      userId: user.id,
      clientId: client.id,
      grantId,
      actor: user.id,
      detail: { tools: chosen.tools.map((t) => t.name), scope: request.scope, grant: created ? "created" : "updated" },
    });
  });
  const presentation = presentClient(client, request.redirectUri);
  return {
    location: responseRedirectUrl(ctx, request.redirectUri, { code, state: request.state }),
    redirectKind: presentation.redirectKind,
    clientName: presentation.name,
    serverName: server.name,
  };
}

/** Deny: the request is answered with access_denied (RFC 6749 §4.1.2.1), state and iss. Nothing is granted. */
export async function denyAuthorization(ctx: AppContext, decision: ConsentDecision): Promise<ConsentOutcome> {
  const { request, user } = decision;
  const client = await reverifyClient(ctx, request);
  // A request for a server of someone else is refused rather than answered on the owner's behalf.
  const server = request.serverId ? await selectServer(ctx, request, user.id, null) : null;
  await ctx.store.transaction(async (tx) => {
    if (!await completeRequest(ctx, tx, request.id, null)) throw new AuthorizePageError(MESSAGES.expired);
    await recordAudit(ctx, tx, {
      kind: "authorization.denied",
      serverId: server?.id ?? null,
      userId: user.id,
      clientId: client.id,
      actor: user.id,
      detail: { scope: request.scope },
    });
  });
  const presentation = presentClient(client, request.redirectUri);
  return {
    location: responseRedirectUrl(ctx, request.redirectUri, {
      error: "access_denied",
      error_description: "The user denied access",
      state: request.state,
    }),
    redirectKind: presentation.redirectKind,
    clientName: presentation.name,
    serverName: server?.name ?? null,
  };
}
