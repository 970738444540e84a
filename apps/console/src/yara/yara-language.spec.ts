import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StringStream } from '@codemirror/language';
import { Text } from '@codemirror/state';
import { toEditorDiagnostic } from './editor.js';
import { type YaraState, tokenize } from './yara-language.js';

/** Tokens of each line as [text, style] pairs, whitespace left out. */
function tokens(source: string): [string, string | null][] {
  const state: YaraState = { comment: false, hex: false, ruleName: false, value: false };
  const out: [string, string | null][] = [];
  for (const line of source.split('\n')) {
    const stream = new StringStream(line, 4, 2);
    while (!stream.eol()) {
      const style = tokenize(stream, state);
      const text = stream.current();
      if (text.trim() !== '') out.push([text.trim(), style]);
      stream.start = stream.pos;
    }
  }
  return out;
}

const styleOf = (list: [string, string | null][], text: string) => list.find(([t]) => t === text)?.[1];

describe('YARA tokenizer', () => {
  const rule = [
    'import "pe"',
    'rule Demo_Rule : tag1 {',
    '  meta:',
    '    score = 40 // a comment',
    '  strings:',
    '    $a = "a \\" quoted" nocase wide',
    '    $h = { 4D 5A ?? [2-4] }',
    '    $r = /ab+c/i',
    '  /* block',
    '     comment */',
    '  condition:',
    '    #a > 2 and @a[1] < 0x100 and uint16(0) == 0x5A4D and filesize < 2MB and all of them',
    '}',
  ].join('\n');
  const list = tokens(rule);

  it('tells keywords, the rule name and string identifiers apart', () => {
    assert.equal(styleOf(list, 'import'), 'keyword');
    assert.equal(styleOf(list, 'rule'), 'keyword');
    assert.equal(styleOf(list, 'Demo_Rule'), 'def');
    assert.equal(styleOf(list, 'condition'), 'keyword');
    assert.equal(styleOf(list, '$a'), 'variable-2');
    assert.equal(styleOf(list, '#a'), 'variable-2');
    assert.equal(styleOf(list, '@a'), 'variable-2');
    assert.equal(styleOf(list, 'them'), 'atom');
    assert.equal(styleOf(list, 'filesize'), 'atom');
    assert.equal(styleOf(list, 'nocase'), 'builtin');
    assert.equal(styleOf(list, 'uint16'), 'builtin');
  });

  it('reads text strings with escapes, hex strings, regexes, numbers and comments', () => {
    assert.equal(styleOf(list, '"a \\" quoted"'), 'string');
    assert.equal(styleOf(list, '4D'), 'string-2');
    assert.equal(styleOf(list, '??'), 'string-2');
    assert.equal(styleOf(list, '[2-4]'), 'string-2');
    assert.equal(styleOf(list, '/ab+c/i'), 'string-2');
    assert.equal(styleOf(list, '0x100'), 'number');
    assert.equal(styleOf(list, '2MB'), 'number');
    assert.equal(styleOf(list, '// a comment'), 'comment');
    assert.equal(styleOf(list, '/* block'), 'comment');
    assert.equal(styleOf(list, 'comment */'), 'comment');
  });

  it('opens a rule body with `{` but a hex string only after `=`', () => {
    assert.equal(styleOf(list, '{'), 'bracket');
    assert.equal(styleOf(tokens('rule x { condition: true }'), 'true'), 'atom');
  });
});

describe('compiler diagnostics in the editor', () => {
  const doc = Text.of(['rule a {', '  condition:', '    $x', '}']);

  it('covers the reported line from its column', () => {
    const d = toEditorDiagnostic(doc, {
      severity: 'error',
      rule: 'a',
      line: 3,
      column: 5,
      message: 'undefined string',
    });
    assert.equal(doc.lineAt(d.from).number, 3);
    assert.equal(doc.sliceString(d.from, d.to), '$x');
    assert.equal(d.severity, 'error');
    assert.equal(d.message, 'a: undefined string');
  });

  it('covers the whole line without a column, and keeps a line past the end on the last line', () => {
    const whole = toEditorDiagnostic(doc, {
      severity: 'warning',
      rule: null,
      line: 2,
      column: null,
      message: 'w',
    });
    assert.equal(doc.sliceString(whole.from, whole.to), '  condition:');
    const past = toEditorDiagnostic(doc, {
      severity: 'error',
      rule: null,
      line: 99,
      column: null,
      message: 'e',
    });
    assert.equal(doc.lineAt(past.from).number, 4);
  });
});
