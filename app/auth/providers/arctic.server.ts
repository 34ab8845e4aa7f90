/**
 * arctic (the OAuth 2.0 clients of the sign-in providers), loaded on the first sign-in with a
 * provider rather than at start: most processes never use it, and its modules are a tenth of what
 * the server would otherwise load before its first answer (docs/decisions/057-start-up-cost.md).
 */
type Arctic = typeof import("arctic");

let loading: Promise<Arctic> | undefined;
let loaded: Arctic | undefined;

export function loadArctic(): Promise<Arctic> {
  loading ??= import("arctic").then((module) => (loaded = module));
  return loading;
}

/** arctic once loaded, or undefined: its errors can only exist after it was. */
export function loadedArctic(): Arctic | undefined {
  return loaded;
}
