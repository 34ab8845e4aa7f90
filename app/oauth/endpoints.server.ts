/**
 * The authorization server's protocol endpoints (everything but /authorize, which is a Remix page),
 * as handlers of the route table (app/http/routes.server.ts). Handlers stay thin: parse the request,
 * call a domain module, build the answer. Every error is an OAuthError mapped by oauthErrorAnswer.
 */
import type { AppContext } from "~/context.server";
import { jsonAnswer, NO_STORE, type ProtocolAnswer, type ProtocolHandler, type ProtocolRequest } from "~/http/protocol.server";
import { authenticateClient, registerClient, touchClient } from "./clients.server";
import { OAuthError, oauthErrorAnswer } from "./errors.server";
import {
  authorizationServerMetadata,
  findServerForMetadata,
  originProtectedResourceMetadata,
  protectedResourceMetadata,
} from "./metadata.server";
import { parseClientCredentials, parseFormBody, parseJsonBody, requireParam } from "./request-parsing.server";
import { revokeToken } from "./revocation.server";
import { exchangeAuthorizationCode, refreshTokenGrant, tokenResponseBody } from "./token-grants.server";
import { CLIENT_CREDENTIALS_GRANT, clientCredentialsGrant } from "./client-credentials-grant.server";
import { dpopNonceHeaders, tokenRequestDpop } from "./dpop.server";
import { JWT_BEARER_GRANT, jwtBearerGrant } from "./jwt-bearer-grant.server";

// Browser-based MCP clients call discovery, /register, /token and /revoke from their own origin.
// These endpoints use no cookies, so an open CORS policy exposes nothing (credentials are never
// allowed cross-origin).
const CORS = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Headers": "Authorization, Content-Type, MCP-Protocol-Version, DPoP",
  "Access-Control-Expose-Headers": "WWW-Authenticate, DPoP-Nonce",
  "Access-Control-Max-Age": "600",
};

type MethodHandler = (request: ProtocolRequest, ctx: AppContext, match: RegExpExecArray) => ProtocolAnswer | Promise<ProtocolAnswer>;

/**
 * One endpoint: dispatches by method (HEAD as GET); OPTIONS is the CORS preflight; other methods
 * get 405 with Allow; errors go through the OAuth error mapper. Every answer carries CORS.
 */
function endpoint(methods: { GET?: MethodHandler; POST?: MethodHandler }): ProtocolHandler {
  const allowed = Object.keys(methods).join(", ");
  const get = methods.GET;
  const post = methods.POST;
  return async (request, ctx, match) => {
    if (request.method === "OPTIONS") {
      return { status: 204, headers: { ...CORS, "Access-Control-Allow-Methods": `${allowed}, OPTIONS` }, body: null };
    }
    const handler = request.method === "POST" ? post : request.method === "GET" || request.method === "HEAD" ? get : undefined;
    let answer: ProtocolAnswer;
    if (!handler) {
      answer = jsonAnswer(405, { error: "invalid_request", error_description: `Use ${allowed} for this endpoint` }, { Allow: `${allowed}, OPTIONS` });
    } else {
      try {
        answer = await handler(request, ctx, match);
      } catch (error) {
        answer = oauthErrorAnswer(error, ctx);
      }
    }
    Object.assign(answer.headers, CORS);
    return answer;
  };
}

// Discovery documents change rarely: a short public cache keeps clients fast and edits visible.
const DISCOVERY = { "Cache-Control": "public, max-age=300" };

// The two fixed documents, serialised once per configuration (the hot-path caches are listed in docs/decisions/023).
const fixedDocuments = new WeakMap<AppContext["config"], { as: string; pr: string }>();

function fixedDocument(ctx: AppContext, which: "as" | "pr"): ProtocolAnswer {
  let docs = fixedDocuments.get(ctx.config);
  if (!docs) {
    docs = { as: JSON.stringify(authorizationServerMetadata(ctx)), pr: JSON.stringify(originProtectedResourceMetadata(ctx)) };
    fixedDocuments.set(ctx.config, docs);
  }
  return { status: 200, headers: { ...DISCOVERY, "Content-Type": "application/json" }, body: docs[which] };
}

/** RFC 8414 metadata. */
export const authorizationServerMetadataEndpoint = endpoint({ GET: (_request, ctx) => fixedDocument(ctx, "as") });

/** RFC 9728 metadata of the origin. */
export const originResourceMetadataEndpoint = endpoint({ GET: (_request, ctx) => fixedDocument(ctx, "pr") });

// Per-server documents, kept for a second: they are public, carry no secret, and are already sent
// with max-age=300, so a client may see a rename or a deletion that much later anyway. Clients ask
// for this document before every authorization; this spares the read for bursts of them.
const SERVER_DOCUMENT_TTL_MS = 1000;
const MAX_SERVER_DOCUMENTS = 10_000;
const serverDocuments = new WeakMap<AppContext["config"], Map<string, { json: string; until: number }>>();

async function serverDocument(ctx: AppContext, serverId: string): Promise<string | null> {
  let documents = serverDocuments.get(ctx.config);
  if (!documents) {
    documents = new Map();
    serverDocuments.set(ctx.config, documents);
  }
  const now = performance.now();
  const hit = documents.get(serverId);
  if (hit && hit.until > now) return hit.json;
  const server = await findServerForMetadata(ctx, serverId);
  if (!server) {
    documents.delete(serverId);
    return null;
  }
  const json = JSON.stringify(protectedResourceMetadata(ctx, server));
  if (documents.size >= MAX_SERVER_DOCUMENTS) documents.delete(documents.keys().next().value!);
  documents.set(serverId, { json, until: now + SERVER_DOCUMENT_TTL_MS });
  return json;
}

/** RFC 9728 metadata of one MCP server (`match[1]` is the server id). */
export const serverResourceMetadataEndpoint = endpoint({
  GET: async (_request, ctx, match) => {
    const json = await serverDocument(ctx, match[1]!);
    if (json === null) return jsonAnswer(404, { error: "not_found", error_description: "No MCP server has this id" }, { "Cache-Control": "no-store" });
    return { status: 200, headers: { ...DISCOVERY, "Content-Type": "application/json" }, body: json };
  },
});

/** Toolgate is not an OpenID provider: a 404 makes clients fall back to RFC 8414 metadata. */
export const openIdConfigurationEndpoint: ProtocolHandler = () =>
  jsonAnswer(404, { error: "not_found", error_description: "This server is not an OpenID Connect provider" });

/** RFC 7591 §3: dynamic client registration. */
export const registrationEndpoint = endpoint({
  POST: async (request, ctx) => {
    const body = await parseJsonBody(request);
    const { response } = await registerClient(ctx, body);
    return jsonAnswer(201, response, NO_STORE);
  },
});

// The grants /token answers, by grant_type (own keys only: a client-chosen string indexes it).
const TOKEN_GRANTS = {
  authorization_code: exchangeAuthorizationCode,
  refresh_token: refreshTokenGrant,
  [CLIENT_CREDENTIALS_GRANT]: clientCredentialsGrant,
  [JWT_BEARER_GRANT]: jwtBearerGrant,
} as const;

/** RFC 6749 §3.2: the token endpoint. */
export const tokenEndpoint = endpoint({
  POST: async (request, ctx) => {
    const params = await parseFormBody(request);
    const grantType = requireParam(params, "grant_type");
    const grant = Object.hasOwn(TOKEN_GRANTS, grantType) ? TOKEN_GRANTS[grantType as keyof typeof TOKEN_GRANTS] : undefined;
    if (!grant) throw new OAuthError("unsupported_grant_type", `The grant type ${grantType.slice(0, 100)} is not supported`);
    const client = await authenticateClient(ctx, await parseClientCredentials(request, params));
    // RFC 9449 §5: a DPoP proof binds what this request issues to the proof's key.
    const dpopJkt = await tokenRequestDpop(ctx, { get: (name) => request.header(name) });
    const tokens = await grant(ctx, client, params, dpopJkt);
    return jsonAnswer(200, tokenResponseBody(tokens), dpopJkt ? { ...NO_STORE, ...dpopNonceHeaders(ctx) } : NO_STORE);
  },
});

/** RFC 7009 §2: the revocation endpoint. */
export const revocationEndpoint = endpoint({
  POST: async (request, ctx) => {
    const params = await parseFormBody(request);
    const token = requireParam(params, "token");
    const client = await authenticateClient(ctx, await parseClientCredentials(request, params));
    await touchClient(ctx, client.id);
    const result = await revokeToken(ctx, client, token, params.get("token_type_hint"));
    if (result === "not_owned") ctx.logger.warn("revocation of another client's token ignored", { clientId: client.id });
    // RFC 7009 §2.2: 200 whether or not the token was known.
    return { status: 200, headers: { ...NO_STORE }, body: null };
  },
});
