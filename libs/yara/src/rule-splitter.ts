/**
 * Splits YARA source text into its top-level items (rules, imports, includes, stray text) so a bad rule
 * can be compiled out on its own. Only lexes as much as that needs: comments, text strings, regular
 * expressions and hex strings are skipped whole so that braces or the word `rule` inside them do not count.
 */

type TokenKind = 'word' | 'text' | 'regex' | 'hex' | 'punct';

interface Token {
  kind: TokenKind;
  value: string;
  start: number;
  end: number;
}

export type ChunkKind = 'rule' | 'directive' | 'other';

export interface SourceChunk {
  kind: ChunkKind;
  /** Rule identifier for `rule` chunks. */
  name?: string;
  /** `private` and `global`, as written before `rule`. */
  modifiers?: string[];
  start: number;
  end: number;
  /** 1-based, inclusive. */
  startLine: number;
  endLine: number;
  /** False when a rule's braces never closed before the next rule began. */
  wellFormed: boolean;
}

export interface SplitSource {
  chunks: SourceChunk[];
  /** Every identifier-like word with how often it occurs: tells which rule names are referenced. */
  wordCounts: Map<string, number>;
}

const RULE_MODIFIERS = new Set(['private', 'global']);
const TWO_CHAR_PUNCT = new Set(['==', '!=', '<=', '>=', '<<', '>>', '..']);

function isWordChar(c: string): boolean {
  return /[A-Za-z0-9_]/.test(c);
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  const n = text.length;
  let i = 0;
  const previous = (): Token | undefined => tokens[tokens.length - 1];

  // Skips a quoted or slash-delimited body with backslash escapes; stops at the line end if unterminated.
  const skipDelimited = (from: number, close: string): number => {
    let j = from;
    while (j < n) {
      const c = text[j];
      if (c === '\\') j += 2;
      else if (c === close) return j + 1;
      else if (c === '\n') return j;
      else j++;
    }
    return n;
  };

  while (i < n) {
    const c = text[i] ?? '';
    const next = text[i + 1] ?? '';
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      i++;
    } else if (c === '/' && next === '/') {
      const eol = text.indexOf('\n', i);
      i = eol === -1 ? n : eol;
    } else if (c === '/' && next === '*') {
      const close = text.indexOf('*/', i + 2);
      i = close === -1 ? n : close + 2;
    } else if (c === '"') {
      const end = skipDelimited(i + 1, '"');
      tokens.push({ kind: 'text', value: text.slice(i, end), start: i, end });
      i = end;
    } else if (c === '/' && isRegexStart(previous())) {
      let end = skipDelimited(i + 1, '/');
      while (end < n && /[is]/.test(text[end] ?? '')) end++;
      tokens.push({ kind: 'regex', value: text.slice(i, end), start: i, end });
      i = end;
    } else if (c === '{' && previous()?.value === '=') {
      const end = skipHexString(text, i + 1);
      tokens.push({ kind: 'hex', value: text.slice(i, end), start: i, end });
      i = end;
    } else if (isWordChar(c) || ((c === '$' || c === '#' || c === '@' || c === '!') && isWordChar(next))) {
      let end = i + 1;
      while (end < n && isWordChar(text[end] ?? '')) end++;
      // `pe.sections`: module fields are words too, but only the head matters for references.
      tokens.push({ kind: 'word', value: text.slice(i, end), start: i, end });
      i = end;
    } else {
      const two = text.slice(i, i + 2);
      const width = TWO_CHAR_PUNCT.has(two) ? 2 : 1;
      tokens.push({ kind: 'punct', value: text.slice(i, i + width), start: i, end: i + width });
      i += width;
    }
  }
  return tokens;
}

/** A `/` opens a regex only where an operand is expected after `=`, `matches` or in an argument list. */
function isRegexStart(previous: Token | undefined): boolean {
  if (previous === undefined) return false;
  if (previous.kind === 'punct')
    return previous.value === '=' || previous.value === '(' || previous.value === ',';
  return previous.kind === 'word' && previous.value === 'matches';
}

/** Hex strings hold no braces of their own but may hold comments. */
function skipHexString(text: string, from: number): number {
  let j = from;
  while (j < text.length) {
    if (text.startsWith('//', j)) {
      const eol = text.indexOf('\n', j);
      j = eol === -1 ? text.length : eol;
    } else if (text.startsWith('/*', j)) {
      const close = text.indexOf('*/', j + 2);
      j = close === -1 ? text.length : close + 2;
    } else if (text[j] === '}') {
      return j + 1;
    } else if (text[j] === '{') {
      // Malformed: let the caller see this brace as structure.
      return j;
    } else {
      j++;
    }
  }
  return j;
}

/** Index of the `rule` keyword when tokens[i..] is `[private|global]* rule`, else -1. */
function ruleKeywordAt(tokens: Token[], i: number): number {
  let j = i;
  while (tokens[j]?.kind === 'word' && RULE_MODIFIERS.has(tokens[j]?.value ?? '')) j++;
  const token = tokens[j];
  return token?.kind === 'word' && token.value === 'rule' ? j : -1;
}

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
}

function lineOf(starts: number[], offset: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((starts[mid] ?? 0) <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo + 1;
}

/** What stands where a rule's name goes: up to white space, the tags, the body or a comment. */
const WRITTEN_NAME = /[^\s{}:/"]+/y;

/**
 * The name written after `rule`, as written: an identifier, or what stands in its place (`ünï`, which libyara
 * refuses), so a rule that does not compile is still named. None when `rule` is followed by its tags or body.
 */
function ruleName(text: string, token: Token | undefined): string | undefined {
  if (token === undefined || (token.kind !== 'word' && token.kind !== 'punct')) return undefined;
  WRITTEN_NAME.lastIndex = token.start;
  return WRITTEN_NAME.exec(text)?.[0];
}

/** Splits one source into top-level chunks in source order. */
export function splitSource(text: string): SplitSource {
  const tokens = tokenize(text);
  const starts = lineStarts(text);
  const chunks: SourceChunk[] = [];
  const wordCounts = new Map<string, number>();
  for (const token of tokens) {
    if (token.kind === 'word') wordCounts.set(token.value, (wordCounts.get(token.value) ?? 0) + 1);
  }

  const push = (
    kind: ChunkKind,
    startToken: Token,
    end: number,
    wellFormed: boolean,
    name?: string,
    modifiers?: string[],
  ): void => {
    chunks.push({
      kind,
      ...(name === undefined ? {} : { name }),
      ...(modifiers === undefined ? {} : { modifiers }),
      start: startToken.start,
      end,
      startLine: lineOf(starts, startToken.start),
      endLine: lineOf(starts, Math.max(startToken.start, end - 1)),
      wellFormed,
    });
  };

  let i = 0;
  while (i < tokens.length) {
    const token = tokens[i];
    if (token === undefined) break;
    const keyword = ruleKeywordAt(tokens, i);
    if (keyword !== -1) {
      const name = ruleName(text, tokens[keyword + 1]);
      let j = keyword + 1;
      let depth = 0;
      let opened = false;
      let end = text.length;
      let wellFormed = false;
      while (j < tokens.length) {
        const t = tokens[j];
        if (t === undefined) break;
        if (t.kind === 'punct' && t.value === '{') {
          depth++;
          opened = true;
        } else if (t.kind === 'punct' && t.value === '}') {
          depth--;
          if (opened && depth <= 0) {
            end = t.end;
            wellFormed = true;
            j++;
            break;
          }
        } else if (ruleKeywordAt(tokens, j) !== -1) {
          // The next rule starts before this one closed: end this chunk where that rule begins.
          end = t.start;
          break;
        }
        j++;
      }
      if (!wellFormed && j >= tokens.length) end = text.length;
      const modifiers = tokens.slice(i, keyword).map((t) => t.value);
      push('rule', token, end, wellFormed, name, modifiers);
      i = j;
    } else if (token.kind === 'word' && (token.value === 'import' || token.value === 'include')) {
      const argument = tokens[i + 1];
      const hasArgument = argument?.kind === 'text';
      push('directive', token, hasArgument ? argument.end : token.end, hasArgument);
      i += hasArgument ? 2 : 1;
    } else {
      // Stray text: runs until something that starts a real top-level item.
      let j = i + 1;
      while (j < tokens.length) {
        const t = tokens[j];
        if (t === undefined) break;
        if (ruleKeywordAt(tokens, j) !== -1) break;
        if (t.kind === 'word' && (t.value === 'import' || t.value === 'include')) break;
        j++;
      }
      const last = tokens[j - 1] ?? token;
      push('other', token, last.end, false);
      i = j;
    }
  }
  return { chunks, wordCounts };
}

/**
 * The top-level rules in `text` with their modifiers (`private`, `global`), in source order (whether they
 * compile or not).
 */
export function ruleDefinitions(text: string): { name: string; modifiers: string[] }[] {
  return splitSource(text)
    .chunks.filter((c) => c.kind === 'rule' && c.name !== undefined)
    .map((c) => ({ name: c.name ?? '', modifiers: c.modifiers ?? [] }));
}
