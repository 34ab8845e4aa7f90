// The measured scenarios. Each `prepare` sends one probe request and checks the answer is what a
// real client would accept; only then is the scenario put under load. An endpoint that does not
// exist yet (404/405 from the app) is reported as not available instead of failing the run.
// The two eras the endpoint serves (app/mcp/revisions.server.ts): the newest 2025 revision, spoken by
// the SDK 1.x client and v2 clients in their default mode, and 2026-07-28, spoken by v2 clients in
// `auto` mode (a per-request `_meta` envelope and the Mcp-Method header instead of initialize).
export const MCP_PROTOCOL_VERSION = "2025-11-25";
export const MCP_MODERN_VERSION = "2026-07-28";
const MODERN_ENVELOPE = {
  "io.modelcontextprotocol/protocolVersion": MCP_MODERN_VERSION,
  "io.modelcontextprotocol/clientInfo": { name: "toolgate-bench", version: "1" },
  "io.modelcontextprotocol/clientCapabilities": {},
};
const modernBody = (id, method, params = {}) => JSON.stringify({ jsonrpc: "2.0", id, method, params: { ...params, _meta: MODERN_ENVELOPE } });

class Unavailable extends Error {}

// The per-address rate limits (app/http/rate-limit.server.ts) would turn a one-address load test of
// /token, /register and /authorize into a test of the 429 path. The bench starts the app with
// TOOLGATE_TRUSTED_PROXIES=loopback and spreads those requests over many client addresses, as a
// reverse proxy in front of many clients would.
const FORWARDED = Array.from({ length: 4096 }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.${1 + (i % 250)}`);
let forwardedIndex = 0;
const forwardedFor = () => FORWARDED[forwardedIndex++ % FORWARDED.length];

async function send(url, init = {}) {
  const res = await fetch(url, { redirect: "manual", ...init });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text };
}

function notFound(res, what) {
  if (res.status === 404 || res.status === 405) throw new Unavailable(`not available (${res.status})`);
  throw new Error(`${what}: unexpected ${res.status}: ${res.text.slice(0, 300)}`);
}

/** A JSON-RPC answer from a Streamable HTTP response: plain JSON or the first SSE `data:` event. */
export function parseMcpBody(res) {
  const type = res.headers.get("content-type") ?? "";
  if (type.includes("text/event-stream")) {
    const data = res.text
      .split("\n")
      .filter((l) => l.startsWith("data:"))
      .map((l) => l.slice(5).trim())
      .find((l) => l.startsWith("{"));
    return data ? JSON.parse(data) : null;
  }
  try {
    return JSON.parse(res.text);
  } catch {
    return null;
  }
}

const mcpHeaders = (token, sessionId, modern) => ({
  authorization: `Bearer ${token}`,
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
  "mcp-protocol-version": modern ? MCP_MODERN_VERSION : MCP_PROTOCOL_VERSION,
  ...(modern ? { "mcp-method": modern.method, ...(modern.name ? { "mcp-name": modern.name } : {}) } : {}),
  ...(sessionId ? { "mcp-session-id": sessionId } : {}),
});

/**
 * Finds out whether the MCP endpoint is stateless (answers without initialize) or needs a session;
 * in the latter case initializes once per token used and returns the session ids to reuse.
 */
async function mcpSessions(env, tokens, probeBody, modern) {
  const first = tokens[0];
  const url = `${env.app.url}/mcp/${first.serverId}`;
  const res = await send(url, { method: "POST", headers: mcpHeaders(first.token, undefined, modern), body: probeBody });
  if (modern && res.status !== 200) throw new Error(`MCP ${MCP_MODERN_VERSION} probe failed: ${res.status} ${res.text.slice(0, 300)}`);
  if (res.status === 404 && !parseMcpBody(res)) notFound(res, "MCP endpoint");
  if (res.status === 405) notFound(res, "MCP endpoint");
  const message = parseMcpBody(res);
  if (res.status === 200 && message?.result) return { stateful: false, sessions: new Map(), probe: message };
  if (res.status === 401 || res.status === 403) {
    throw new Error(`MCP endpoint refused a seeded token (${res.status} ${res.headers.get("www-authenticate") ?? ""}): ${res.text.slice(0, 200)}`);
  }
  // Stateful: initialize once per token, reuse the session id for every request.
  const sessions = new Map();
  for (const t of tokens) {
    const init = await send(`${env.app.url}/mcp/${t.serverId}`, {
      method: "POST",
      headers: mcpHeaders(t.token),
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 0,
        method: "initialize",
        params: { protocolVersion: MCP_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: "toolgate-bench", version: "1" } },
      }),
    });
    const sessionId = init.headers.get("mcp-session-id");
    if (init.status !== 200 || !sessionId) {
      throw new Error(`MCP probe failed (${res.status}: ${res.text.slice(0, 200)}) and initialize gave ${init.status} without a session: ${init.text.slice(0, 200)}`);
    }
    await send(`${env.app.url}/mcp/${t.serverId}`, {
      method: "POST",
      headers: mcpHeaders(t.token, sessionId),
      body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
    });
    sessions.set(t.token, sessionId);
  }
  const again = await send(url, { method: "POST", headers: mcpHeaders(first.token, sessions.get(first.token)), body: probeBody });
  const answer = parseMcpBody(again);
  if (again.status !== 200 || !answer?.result) throw new Error(`MCP probe with a session failed: ${again.status} ${again.text.slice(0, 200)}`);
  return { stateful: true, sessions, probe: answer };
}

/**
 * autocannon options that send `body` to /mcp/<server> rotating through the seeded tokens;
 * `modern` ({ method, name? }) sends it as a 2026-07-28 request with its standard headers.
 */
async function mcpScenario(env, body, check, modern) {
  // A stateful endpoint gets one session per token for a small slice of the pool.
  let tokens = env.fixture.accessTokens;
  const first = await mcpSessions(env, tokens.slice(0, 1), body, modern);
  check(first.probe);
  const stateful = first.stateful;
  let sessionMap = first.sessions;
  if (stateful) {
    tokens = tokens.slice(0, 64);
    sessionMap = (await mcpSessions(env, tokens, body)).sessions;
  }
  let i = 0;
  return {
    note: stateful ? "stateful: one initialize per token, session reused" : "stateless",
    options: {
      method: "POST",
      requests: [
        {
          setupRequest(request) {
            const t = tokens[i++ % tokens.length];
            request.method = "POST";
            request.path = `/mcp/${t.serverId}`;
            request.headers = mcpHeaders(t.token, sessionMap.get(t.token), modern);
            request.body = body;
            return request;
          },
        },
      ],
    },
  };
}

export function scenarios() {
  return [
    {
      key: "mcp-tools-list",
      label: "(a) MCP tools/list, 2025-11-25",
      target: { ratio: 0.17, p99: 10 },
      // Issue 15's target with PostgreSQL sharing the two cores.
      postgresTarget: { ratio: 0.1 },
      prepare: (env) =>
        mcpScenario(env, JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list", params: {} }), (answer) => {
          const n = answer.result?.tools?.length;
          if (n !== 10) throw new Error(`tools/list returned ${n} tools, expected the 10 seeded ones`);
        }),
    },
    {
      key: "mcp-tools-list-2026",
      label: "(a2) MCP tools/list, 2026-07-28",
      target: { ratio: 0.17, p99: 10 },
      prepare: (env) =>
        mcpScenario(
          env,
          modernBody(1, "tools/list"),
          (answer) => {
            const n = answer.result?.tools?.length;
            if (n !== 10) throw new Error(`tools/list returned ${n} tools, expected the 10 seeded ones`);
            if (answer.result.resultType !== "complete" || answer.result.cacheScope !== "private") {
              throw new Error(`tools/list is not a 2026-07-28 answer: ${JSON.stringify(answer).slice(0, 300)}`);
            }
          },
          { method: "tools/list" },
        ),
    },
    {
      key: "mcp-tools-call",
      label: "(b) MCP tools/call (no-op endpoint)",
      target: null,
      helpers: ["noop"],
      prepare: (env) =>
        mcpScenario(
          env,
          JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "tool_3", arguments: { query: "bench" } } }),
          (answer) => {
            if (!answer.result || answer.result.isError) {
              throw new Error(`tools/call did not succeed: ${JSON.stringify(answer).slice(0, 300)}`);
            }
          },
        ),
    },
    {
      key: "mcp-tools-call-2026",
      label: "(b2) MCP tools/call, 2026-07-28 (no-op endpoint)",
      target: null,
      helpers: ["noop"],
      prepare: (env) =>
        mcpScenario(
          env,
          modernBody(2, "tools/call", { name: "tool_3", arguments: { query: "bench" } }),
          (answer) => {
            if (!answer.result || answer.result.isError) {
              throw new Error(`tools/call did not succeed: ${JSON.stringify(answer).slice(0, 300)}`);
            }
          },
          { method: "tools/call", name: "tool_3" },
        ),
    },
    {
      key: "refresh-grant",
      label: "(c) refresh-token grant, rotation",
      target: { ratio: 0.05 },
      // Issue 15's target with PostgreSQL sharing the two cores.
      postgresTarget: { ratio: 0.033 },
      async prepare(env) {
        const pool = env.fixture.refreshTokens;
        let i = 0;
        const form = (t) =>
          new URLSearchParams({
            grant_type: "refresh_token",
            refresh_token: t.token,
            client_id: t.clientId,
            resource: `${env.app.url}/mcp/${t.serverId}`,
          }).toString();
        const first = pool[i++];
        const res = await send(`${env.app.url}/token`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
          body: form(first),
        });
        if (res.status !== 200) notFound(res, "POST /token (refresh_token)");
        const answer = JSON.parse(res.text);
        if (!answer.access_token || !answer.refresh_token || answer.refresh_token === first.token) {
          throw new Error(`refresh grant answered without a rotated pair: ${res.text.slice(0, 200)}`);
        }
        const left = () => pool.length - i - 64; // setupRequest may run a few times ahead of sends
        return {
          note: `one-use pool of ${pool.length} refresh tokens`,
          budget: () => left(),
          options: {
            requests: [
              {
                setupRequest(request) {
                  const t = pool[i++ % pool.length];
                  request.method = "POST";
                  request.path = "/token";
                  request.headers = {
                    "content-type": "application/x-www-form-urlencoded",
                    accept: "application/json",
                    "x-forwarded-for": forwardedFor(),
                  };
                  request.body = form(t);
                  return request;
                },
              },
            ],
          },
        };
      },
    },
    {
      key: "register",
      label: "(d) dynamic registration",
      target: { ratio: 0.05 },
      // Issue 15's target with PostgreSQL sharing the two cores.
      postgresTarget: { ratio: 0.035 },
      async prepare(env) {
        const body = (name) =>
          JSON.stringify({
            client_name: name,
            redirect_uris: ["http://127.0.0.1:45678/callback"],
            grant_types: ["authorization_code", "refresh_token"],
            response_types: ["code"],
            token_endpoint_auth_method: "none",
          });
        const res = await send(`${env.app.url}/register`, {
          method: "POST",
          headers: { "content-type": "application/json", accept: "application/json" },
          body: body("Bench probe"),
        });
        if (res.status !== 201) notFound(res, "POST /register");
        if (!JSON.parse(res.text).client_id) throw new Error(`registration answered without client_id: ${res.text.slice(0, 200)}`);
        let n = 0;
        return {
          options: {
            requests: [
              {
                setupRequest(request) {
                  request.method = "POST";
                  request.path = "/register";
                  request.headers = { "content-type": "application/json", accept: "application/json", "x-forwarded-for": forwardedFor() };
                  request.body = body(`Bench client ${n++}`);
                  return request;
                },
              },
            ],
          },
        };
      },
    },
    {
      key: "authorize-page",
      label: "(e) Authorize Application page",
      target: { ratio: 0.02, text: "≥ minimal Remix page (0.014–0.020)" },
      async prepare(env) {
        const ids = env.fixture.authRequestIds;
        const headers = { cookie: env.fixture.sessionCookie, accept: "text/html" };
        const res = await send(`${env.app.url}/authorize?request=${encodeURIComponent(ids[0])}`, { headers });
        if (res.status === 404 && !res.text.includes("Authorize Application")) notFound(res, "GET /authorize");
        if (res.status !== 200 || !res.text.includes("Authorize Application") || !res.text.includes("tool_0")) {
          throw new Error(`consent page probe: ${res.status} ${res.headers.get("location") ?? ""} ${res.text.slice(0, 300)}`);
        }
        let i = 0;
        return {
          options: {
            requests: [
              {
                setupRequest(request) {
                  request.method = "GET";
                  request.path = `/authorize?request=${encodeURIComponent(ids[i++ % ids.length])}`;
                  request.headers = { ...headers, "x-forwarded-for": forwardedFor() };
                  return request;
                },
              },
            ],
          },
        };
      },
    },
    {
      key: "as-metadata",
      label: "(f) /.well-known/oauth-authorization-server",
      target: { ratio: 0.3 },
      async prepare(env) {
        const res = await send(`${env.app.url}/.well-known/oauth-authorization-server`);
        if (res.status !== 200) notFound(res, "AS metadata");
        if (JSON.parse(res.text).issuer !== env.app.url) throw new Error(`AS metadata issuer mismatch: ${res.text.slice(0, 200)}`);
        return { options: { requests: [{ method: "GET", path: "/.well-known/oauth-authorization-server" }] } };
      },
    },
    {
      key: "pr-metadata",
      label: "(f) /.well-known/oauth-protected-resource/mcp/<id>",
      target: { ratio: 0.3 },
      async prepare(env) {
        const path = `/.well-known/oauth-protected-resource/mcp/${env.fixture.servers[0].id}`;
        const res = await send(`${env.app.url}${path}`);
        if (res.status !== 200) notFound(res, "protected resource metadata");
        if (!JSON.parse(res.text).resource) throw new Error(`PR metadata without resource: ${res.text.slice(0, 200)}`);
        return { options: { requests: [{ method: "GET", path }] } };
      },
    },
    {
      key: "healthz",
      label: "ref: app GET /healthz (protocol router floor)",
      target: null,
      async prepare(env) {
        const res = await send(`${env.app.url}/healthz`);
        if (res.status !== 200) notFound(res, "healthz");
        return { options: { requests: [{ method: "GET", path: "/healthz" }] } };
      },
    },
    {
      key: "sign-in-page",
      label: "ref: app GET /sign-in (Remix page)",
      target: null,
      async prepare(env) {
        const res = await send(`${env.app.url}/sign-in`, { headers: { accept: "text/html" } });
        if (res.status !== 200) notFound(res, "sign-in page");
        return { options: { requests: [{ method: "GET", path: "/sign-in", headers: { accept: "text/html" } }] } };
      },
    },
  ];
}

export { Unavailable };
