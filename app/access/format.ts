/** A time as "2026-01-31 14:05:09 UTC": the same on the server and in the browser (no hydration drift). */
export function formatUtc(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace("T", " ") + " UTC";
}
