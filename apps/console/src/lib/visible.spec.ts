import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { codePointOf, hasHidden, revealHidden, revealedText } from './visible.js';

describe('hidden characters made visible', () => {
  it('shows the bidi override of a spoofed file name in logical order', () => {
    const name = 'invoice\u202Efdp.exe';
    assert.deepEqual(revealHidden(name), [
      { text: 'invoice' },
      { hidden: '\u202E', codePoint: 'U+202E' },
      { text: 'fdp.exe' },
    ]);
    assert.equal(revealedText(name), 'invoice⟨U+202E⟩fdp.exe');
  });

  it('finds every format and control character the spoofs use', () => {
    const hidden: Record<string, string> = {
      'bidi embeddings and overrides': '\u202A\u202B\u202C\u202D\u202E',
      'bidi isolates': '\u2066\u2067\u2068\u2069',
      'bidi marks': '\u200E\u200F\u061C',
      'zero-width characters and the soft hyphen': '\u200B\u200C\u200D\u2060\uFEFF\u00AD',
      controls: '\u0000\u0007\u001B\t\n\r\u007F\u0085',
      separators: '\u2028\u2029',
      'a tag character (outside the BMP)': '\u{E0041}',
      'a Hangul filler (drawn blank)': '\u3164',
    };
    for (const [what, chars] of Object.entries(hidden)) {
      for (const ch of chars) {
        assert.ok(hasHidden(`a${ch}b`), `${what}: ${codePointOf(ch)}`);
        assert.deepEqual(revealHidden(`a${ch}b`)[1], { hidden: ch, codePoint: codePointOf(ch) });
      }
    }
    assert.equal(revealedText('\u{E0041}'), '⟨U+E0041⟩');
    assert.equal(revealedText('a\u0000b'), 'a⟨U+0000⟩b');
  });

  it('leaves ordinary text alone, right-to-left scripts and emoji included', () => {
    for (const text of ['report.pdf', 'מסמך.docx', 'تقرير.pdf', 'naïve café', '😀 ok', 'a b', '']) {
      assert.equal(hasHidden(text), false, text);
      assert.deepEqual(revealHidden(text), [{ text }]);
      assert.equal(revealedText(text), text);
    }
  });

  it('keeps runs of hidden characters apart and at the edges', () => {
    assert.deepEqual(revealHidden('\u202E\u202Cx\u200B'), [
      { hidden: '\u202E', codePoint: 'U+202E' },
      { hidden: '\u202C', codePoint: 'U+202C' },
      { text: 'x' },
      { hidden: '\u200B', codePoint: 'U+200B' },
    ]);
  });
});
