/**
 * Which characters, pairs and triples of adjacent characters a text holds, built in one pass, so that many
 * short words can be ruled out at once. Script detection tests up to 28 patterns over the same 4 KiB of
 * text; a line-anchored or case-insensitive pattern costs 3–19 µs there and `String.includes` of a short
 * word several µs when its first letter is common (every occurrence of that letter is a stop), while one
 * pass over the text here and a few table reads per word cost about as much as one pattern (Node 24).
 *
 * ASCII letters are folded to lower case, as a case-insensitive pattern without the `u` flag compares them;
 * other characters are taken modulo 256, and triples are hashed into a table of 2^16, both of which can only
 * make a word look present that is not. So {@link TextIndex.mayContain} never says no to a word the text
 * holds, whatever its case: a caller that runs the real pattern after a yes gets exactly its answer.
 */
export class TextIndex {
  /** The stamp of the last text in which each character (code modulo 256) was seen. */
  private static readonly chars = new Uint32Array(256);
  /** The same for each pair of adjacent characters (first × 256 + second). */
  private static readonly pairs = new Uint32Array(1 << 16);
  /** The same for each triple, by {@link tripleSlot}. */
  private static readonly triples = new Uint32Array(1 << 16);
  private static lastStamp = 0;

  private readonly stamp: number;

  constructor(text: string) {
    const { chars, pairs, triples } = TextIndex;
    if (TextIndex.lastStamp === 0xffffffff) {
      for (const table of [chars, pairs, triples]) table.fill(0);
      TextIndex.lastStamp = 0;
    }
    const stamp = ++TextIndex.lastStamp;
    let before = -1;
    let last = -1;
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      const c = code < 0x100 ? (FOLD[code] as number) : code & 0xff;
      chars[c] = stamp;
      if (last >= 0) pairs[(last << 8) | c] = stamp;
      if (before >= 0) triples[tripleSlot((before << 16) | (last << 8) | c)] = stamp;
      before = last;
      last = c;
    }
    this.stamp = stamp;
  }

  /**
   * False when `word` (lower-case ASCII) cannot occur in the text in any letter case; true when it may.
   * Valid until the next TextIndex is built: the tables are shared, and the stamp tells this text's marks.
   */
  mayContain(word: Word): boolean {
    if (TextIndex.lastStamp !== this.stamp) throw new Error('TextIndex used after a newer one was built');
    const { chars, pairs, triples } = TextIndex;
    const table = word.length === 1 ? chars : word.length === 2 ? pairs : triples;
    return word.slots.every((slot) => table[slot] === this.stamp);
  }
}

/** Each character below 256 as the index compares it: ASCII letters in lower case, the rest as they are. */
const FOLD = Uint8Array.from({ length: 256 }, (_, c) => (c >= 0x41 && c <= 0x5a ? c | 0x20 : c));

/** Where a triple of characters (24 bits) is marked: a multiplicative hash to 16 bits. */
const tripleSlot = (triple: number): number => Math.imul(triple, 0x9e3779b1) >>> 16;

/** A word prepared for {@link TextIndex.mayContain}: the slots of its character, pair, or every triple. */
export interface Word {
  length: number;
  slots: number[];
}

export function word(text: string): Word {
  if (text.length === 0 || !/^[\x20-\x7e]+$/.test(text) || text !== text.toLowerCase()) {
    throw new Error(`not a lower-case ASCII word: ${JSON.stringify(text)}`);
  }
  const code = (i: number): number => text.charCodeAt(i);
  if (text.length === 1) return { length: 1, slots: [code(0)] };
  if (text.length === 2) return { length: 2, slots: [(code(0) << 8) | code(1)] };
  const slots: number[] = [];
  for (let i = 2; i < text.length; i++)
    slots.push(tripleSlot((code(i - 2) << 16) | (code(i - 1) << 8) | code(i)));
  return { length: text.length, slots };
}
