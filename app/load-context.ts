import type { AppContext } from "./context.server";

declare module "@remix-run/node" {
  interface AppLoadContext {
    ctx: AppContext;
    cspNonce: string;
    /** The client's address, with trusted proxies taken into account. */
    clientAddress: string;
    requestId: string;
  }
}
export {};
