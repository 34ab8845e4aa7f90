/**
 * jose, loaded on the first JWT Toolgate reads (a DPoP proof, a client assertion, an ID-JAG, a
 * provider's ID token) rather than at start: most processes read none for a long time, and it is
 * about a tenth of the start-up time (docs/decisions/057-start-up-cost.md).
 */
export type Jose = typeof import("jose");

let loading: Promise<Jose> | undefined;

export function loadJose(): Promise<Jose> {
  loading ??= import("jose");
  return loading;
}
