import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TextIndex, word } from './text-index.js';

/** Characters for random texts: letters of both cases, punctuation, controls, and non-ASCII characters
 * whose codes modulo 256 or whose lower case are ASCII letters (İ, Kelvin K, long s, Ł, ſ…). */
const ALPHABET = [
  ...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 $%[]()=>@.-:_\t\n\r"&~',
  '\0',
  '\u0130',
  '\u212a',
  '\u017f',
  '\u0141',
  '\u0165',
  '\ufffd',
  'é',
];

function randomText(random: () => number, length: number): string {
  let text = '';
  for (let i = 0; i < length; i++) text += ALPHABET[Math.floor(random() * ALPHABET.length)];
  return text;
}

/** A seeded generator so that a failure can be replayed. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** ASCII letters to lower case, as a case-insensitive pattern without the `u` flag compares them. */
const foldAscii = (s: string): string => s.replace(/[A-Z]/g, (c) => c.toLowerCase());

describe('TextIndex', () => {
  it('never rules out a word that occurs in the text, in any letter case', () => {
    const random = mulberry32(20261129);
    let checked = 0;
    for (let n = 0; n < 300; n++) {
      const text = randomText(random, 1 + Math.floor(random() * 400));
      const index = new TextIndex(text);
      for (let k = 0; k < 40; k++) {
        const start = Math.floor(random() * text.length);
        const piece = foldAscii(text.slice(start, start + 1 + Math.floor(random() * 10)));
        // Only lower-case printable ASCII words are asked about (script detection's needles are).
        if (!/^[\x20-\x7e]+$/.test(piece)) continue;
        assert.equal(
          index.mayContain(word(piece)),
          true,
          `${JSON.stringify(piece)} in ${JSON.stringify(text)}`,
        );
        checked++;
      }
    }
    assert.ok(checked > 2000, `only ${checked} words checked`);
  });

  it('rules out words whose characters, pairs or triples are missing', () => {
    const index = new TextIndex('Hello World, nothing to see here');
    assert.equal(index.mayContain(word('hello')), true);
    assert.equal(index.mayContain(word('world,')), true);
    assert.equal(index.mayContain(word('createobject')), false);
    assert.equal(index.mayContain(word('$')), false);
    assert.equal(index.mayContain(word('=>')), false);
    assert.equal(index.mayContain(word('dim')), false);
    // Non-ASCII characters whose lower case is an ASCII letter are not that letter (İ is not i, K is not k).
    assert.equal(new TextIndex('\u0130EX').mayContain(word('iex')), false);
    assert.equal(new TextIndex('\u212aill').mayContain(word('kill')), false);
  });

  it('refuses words it cannot answer for and an index used after a newer one', () => {
    assert.throws(() => word('Dim'), /lower-case ASCII/);
    assert.throws(() => word(''), /lower-case ASCII/);
    assert.throws(() => word('é'), /lower-case ASCII/);
    const first = new TextIndex('abc');
    new TextIndex('xyz');
    assert.throws(() => first.mayContain(word('abc')), /newer one/);
  });
});
