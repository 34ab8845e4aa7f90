import type { AppContext } from "~/context.server";

/**
 * Process lifecycle shared by the HTTP server, /readyz and modules with pending work.
 * A module that buffers writes (for example "last used" timestamps) registers a hook with
 * `onShutdown`; `serve` runs every hook after the last request finished and before the database
 * closes, so nothing buffered is lost on SIGTERM.
 */
type Hook = { name: string; run: (ctx: AppContext) => void | Promise<void> };

const hooks: Hook[] = [];
let draining = false;

/**
 * Registers work to finish at shutdown (one hook per name; hooks run in registration order).
 * Returns a function that removes the hook.
 */
export function onShutdown(name: string, run: Hook["run"]): () => void {
  const hook = { name, run };
  if (!hooks.some((h) => h.name === name)) hooks.push(hook);
  return () => {
    const i = hooks.indexOf(hook);
    if (i >= 0) hooks.splice(i, 1);
  };
}

/** Runs every shutdown hook; a failing hook is logged and does not stop the others. */
export async function runShutdownHooks(ctx: AppContext): Promise<void> {
  for (const hook of hooks) {
    try {
      await hook.run(ctx);
    } catch (error) {
      ctx.logger.error("shutdown hook failed", { hook: hook.name, error });
    }
  }
}

/** From now on /readyz answers 503, so a load balancer stops sending new requests. */
export function markDraining(value = true): void {
  draining = value;
}

export function isDraining(): boolean {
  return draining;
}
