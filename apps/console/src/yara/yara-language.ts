import { StreamLanguage, type StringStream } from '@codemirror/language';

/**
 * A YARA mode for CodeMirror 6: a small hand-written tokenizer (no grammar), enough to colour rules as
 * an analyst writes them: keywords, rule names, string identifiers ($a, #a, @a, !a), text, hex and regex
 * strings, modifiers, numbers with KB/MB, comments.
 */
export interface YaraState {
  /** Inside a block comment. */
  comment: boolean;
  /** Inside a hex string `{ 4D 5A ?? }`. */
  hex: boolean;
  /** The previous token was `rule`: the next word is the rule's name. */
  ruleName: boolean;
  /** The previous token was `=`: `{` opens a hex string, `/` a regex. */
  value: boolean;
}

export const KEYWORDS = new Set([
  'rule',
  'private',
  'global',
  'meta',
  'strings',
  'condition',
  'import',
  'include',
  'and',
  'or',
  'not',
  'at',
  'in',
  'of',
  'for',
  'contains',
  'icontains',
  'startswith',
  'istartswith',
  'endswith',
  'iendswith',
  'iequals',
  'matches',
  'defined',
  'with',
]);
export const ATOMS = new Set(['true', 'false', 'all', 'any', 'none', 'them', 'filesize', 'entrypoint']);
export const MODIFIERS = new Set(['nocase', 'wide', 'ascii', 'fullword', 'xor', 'base64', 'base64wide']);
const INT_FUNCTION = /^u?int(8|16|32)(be)?$/;

function readString(stream: StringStream): void {
  let escaped = false;
  let ch: string | void;
  while ((ch = stream.next()) !== undefined) {
    if (ch === '"' && !escaped) return;
    escaped = !escaped && ch === '\\';
  }
}

function readRegex(stream: StringStream): void {
  let escaped = false;
  let ch: string | void;
  while ((ch = stream.next()) !== undefined) {
    if (ch === '/' && !escaped) break;
    escaped = !escaped && ch === '\\';
  }
  stream.match(/^[is]*/);
}

export function tokenize(stream: StringStream, state: YaraState): string | null {
  if (state.comment) {
    if (stream.skipTo('*/')) {
      stream.pos += 2;
      state.comment = false;
    } else {
      stream.skipToEnd();
    }
    return 'comment';
  }
  if (state.hex) {
    if (stream.eatSpace()) return null;
    if (stream.eat('}')) {
      state.hex = false;
      return 'bracket';
    }
    if (stream.match(/^[0-9A-Fa-f?~]{1,2}/) || stream.match(/^\[[0-9\-\s]*\]/) || stream.match(/^[|()]/)) {
      return 'string-2';
    }
    stream.next();
    return 'invalid';
  }
  if (stream.eatSpace()) return null;
  const value = state.value;
  state.value = false;

  if (stream.match('//')) {
    stream.skipToEnd();
    return 'comment';
  }
  if (stream.match('/*')) {
    state.comment = true;
    return tokenize(stream, state) ?? 'comment';
  }
  if (stream.eat('"')) {
    readString(stream);
    return 'string';
  }
  if (value && stream.eat('{')) {
    state.hex = true;
    return 'bracket';
  }
  if (value && stream.eat('/')) {
    readRegex(stream);
    return 'string-2';
  }
  if (stream.match(/^[$#@!][A-Za-z0-9_]*\*?/)) return 'variable-2';
  if (stream.match(/^0x[0-9A-Fa-f]+/) || stream.match(/^0o[0-7]+/) || stream.match(/^\d+(\.\d+)?(KB|MB)?/)) {
    return 'number';
  }
  const word = stream.match(/^[A-Za-z_][A-Za-z0-9_]*/) as RegExpMatchArray | null;
  if (word !== null) {
    const w = word[0];
    if (state.ruleName) {
      state.ruleName = false;
      return 'def';
    }
    if (w === 'rule') {
      state.ruleName = true;
      return 'keyword';
    }
    if (KEYWORDS.has(w)) return 'keyword';
    if (ATOMS.has(w)) return 'atom';
    if (MODIFIERS.has(w) || INT_FUNCTION.test(w)) return 'builtin';
    return 'variable';
  }
  const ch = stream.next();
  if (ch === '=' && stream.peek() !== '=') {
    state.value = true;
    return 'operator';
  }
  if (ch !== undefined && /[{}()[\]]/.test(ch)) return 'bracket';
  if (ch !== undefined && /[<>=!+\-*\\%&|^~.:,]/.test(ch)) {
    stream.eatWhile(/[<>=.]/);
    return 'operator';
  }
  return null;
}

export const yaraLanguage = StreamLanguage.define<YaraState>({
  name: 'yara',
  startState: () => ({ comment: false, hex: false, ruleName: false, value: false }),
  copyState: (s) => ({ ...s }),
  token: tokenize,
  languageData: { commentTokens: { line: '//', block: { open: '/*', close: '*/' } } },
});
