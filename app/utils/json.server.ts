/**
 * JSON from outside with bounded nesting (docs/decisions/026-bounded-work-on-client-input.md).
 *
 * V8's JSON.parse does not overflow the stack on deep nesting, but it slows down sharply with it
 * (a 200 KB body of nested arrays takes tens of milliseconds, a 1 MB one far longer), and every
 * recursive step after it (JSON.stringify, schema validation, zod) would overflow on such a value.
 * One linear scan before parsing refuses such text; no legitimate protocol message, client
 * metadata or tool argument comes close to the limit.
 */

/** Objects and arrays nested deeper than this are refused. */
export const MAX_JSON_DEPTH = 64;

/** Thrown for text nested deeper than allowed (a SyntaxError, like JSON.parse's own). */
export class JsonTooDeepError extends SyntaxError {
  override name = "JsonTooDeepError";
  constructor(readonly maxDepth: number) {
    super(`JSON nested more than ${maxDepth} levels deep`);
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/** Whether `text` opens more than `maxDepth` objects/arrays at once (strings are skipped). */
export function jsonNestingExceeds(text: string, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > maxDepth) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
  }
  return false;
}

/** JSON.parse for text from outside: throws SyntaxError (JsonTooDeepError for deep nesting). */
export function parseUntrustedJson(text: string, maxDepth = MAX_JSON_DEPTH): unknown {
  if (jsonNestingExceeds(text, maxDepth)) throw new JsonTooDeepError(maxDepth);
  return JSON.parse(text);
}
