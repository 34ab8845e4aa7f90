/**
 * Text that a client (or anyone outside the workspace) supplies and a page shows: client names,
 * URIs, software ids. Used by the metadata validation, which refuses such characters, and by the
 * pages, which replace them in rows stored before the rule existed (docs/decisions/031-consent-screen-truth.md).
 *
 * Refused: control characters (Cc), every format character (Cf: the bidi embeddings, overrides and
 * isolates U+202A–U+202E and U+2066–U+2069, the marks U+200E/U+200F/U+061C, zero-width U+200B–U+200D,
 * U+2060–U+2064, U+FEFF, soft hyphen, tags), unpaired surrogates (Cs), line and paragraph
 * separators, and the other default-ignorable (invisible) code points such as U+3164 HANGUL FILLER.
 * Variation selectors stay allowed (they only choose a glyph, as in "❤️").
 */
const UNSAFE_CHARACTER = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]|(?![\uFE00-\uFE0F])\p{Default_Ignorable_Code_Point}/u;
const UNSAFE_CHARACTERS = new RegExp(UNSAFE_CHARACTER.source, "gu");
/** Stacked combining marks ("Zalgo") draw over the lines around the text. */
const MARK_STACK = /\p{M}{5,}/u;
const MARK_STACKS = /(\p{M}{4})\p{M}+/gu;

/** The first character that may not be shown, as "U+202E", or null when `text` is safe to show. */
export function findUnsafeCharacter(text: string): string | null {
  const match = UNSAFE_CHARACTER.exec(text);
  if (match) return `U+${match[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
  return MARK_STACK.test(text) ? "a stack of more than four combining marks" : null;
}

/** `text` with every character that may not be shown replaced by U+FFFD, and mark stacks cut. */
export function displayText(text: string): string {
  return text.replace(UNSAFE_CHARACTERS, "\uFFFD").replace(MARK_STACKS, "$1");
}

/**
 * A name from outside for a plain-text message (a toast): cleaned, between FSI and PDI, which
 * isolate it in text as <bdi> does in markup; the Toast component renders that part in <bdi>.
 */
export function isolatedName(text: string): string {
  return `\u2068${displayText(text)}\u2069`;
}
