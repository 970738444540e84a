/**
 * Characters that change how text is drawn without being seen themselves: controls (Cc), format
 * characters (Cf: the bidi overrides and isolates U+202A–202E and U+2066–2069, the marks U+200E/F and
 * U+061C, zero-width spaces and joiners, U+FEFF, tag characters…), line and paragraph separators, lone
 * surrogates, and the Hangul fillers that draw as blank letters. A file name `invoice\u202Efdp.exe` is
 * drawn as `invoiceexe.pdf`: every string an agent or a person sent is shown with these made visible.
 */
const HIDDEN = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}\u115F\u1160\u3164\uFFA0]/u;
const HIDDEN_ALL = new RegExp(HIDDEN.source, 'gu');

/** A run of ordinary text, or one hidden character with its code point (`U+202E`). */
export type TextPiece = { text: string } | { hidden: string; codePoint: string };

/** `U+202E` for a character (at least four hex digits, as Unicode writes them). */
export const codePointOf = (ch: string): string =>
  `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;

/** Whether `text` holds a character {@link revealHidden} would make visible. */
export const hasHidden = (text: string): boolean => HIDDEN.test(text);

/** `text` split into ordinary runs and the hidden characters between them, in logical order. */
export function revealHidden(text: string): TextPiece[] {
  const pieces: TextPiece[] = [];
  let at = 0;
  for (const m of text.matchAll(HIDDEN_ALL)) {
    if (m.index > at) pieces.push({ text: text.slice(at, m.index) });
    pieces.push({ hidden: m[0], codePoint: codePointOf(m[0]) });
    at = m.index + m[0].length;
  }
  if (at < text.length || pieces.length === 0) pieces.push({ text: text.slice(at) });
  return pieces;
}

/** `text` with each hidden character written as `⟨U+202E⟩`: for attributes (titles, labels), not markup. */
export const revealedText = (text: string): string =>
  text.replace(HIDDEN_ALL, (ch) => `⟨${codePointOf(ch)}⟩`);
