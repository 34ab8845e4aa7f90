import type { AppLoadContext } from "@remix-run/node";
import { startHttpServer, type RunningServer } from "~/http/server.server";
import { onFreePort } from "./built-app";
import { createTestContext, type TestContext } from "./context";

/** A real HTTP server on 127.0.0.1 serving the protocol endpoints (no Remix pages) for `ctx`. */
export async function startProtocolServer(ctx: TestContext): Promise<RunningServer> {
  return startHttpServer({ ctx, port: 0, host: "127.0.0.1" });
}

/**
 * A test context whose PUBLIC_URL is its own server's address (the issuer must be the URL clients
 * reach, so the port is chosen first), with that server started; another port is tried when the
 * chosen one was taken meanwhile (onFreePort). The caller closes the server and cleans up `ctx`.
 */
export async function startServerWithIssuer(env: Record<string, string> = {}): Promise<{ ctx: TestContext; server: RunningServer; issuer: string }> {
  return onFreePort(async (port) => {
    const issuer = `http://127.0.0.1:${port}`;
    const ctx = createTestContext({ PUBLIC_URL: issuer, ...env });
    try {
      return { ctx, server: await startHttpServer({ ctx, port, host: "127.0.0.1" }), issuer };
    } catch (error) {
      ctx.cleanup();
      throw error;
    }
  });
}

/** The load context Remix loaders and actions receive, for calling them directly in tests. */
export function loadContext(ctx: TestContext, clientAddress = "127.0.0.1"): AppLoadContext {
  return { ctx, cspNonce: "test-nonce", clientAddress, requestId: "test" };
}

/** Builds a form POST like a browser would send. */
export function formRequest(url: string, fields: Record<string, string | string[]>, headers: Record<string, string> = {}) {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) for (const item of Array.isArray(v) ? v : [v]) body.append(k, item);
  return new Request(url, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", ...headers },
    body,
  });
}
