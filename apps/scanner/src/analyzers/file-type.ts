import type { FileTypeInfo } from '#contracts';
import { type ByteSource, has, printable, toSafe, u16, u32, u64, MIN_LFANEW } from './bytes.js';
import { TextIndex, type Word, word } from './text-index.js';

/** Bytes read from the start of a sample to decide its type. */
const HEAD = 64 * 1024;
/** End-of-central-directory record: 22 bytes plus a comment of at most 65,535. */
const ZIP_TAIL = 22 + 0xffff;
const ZIP_MAX_ENTRIES = 4096;

const startsWith = (b: Buffer, sig: number[], at = 0): boolean =>
  has(b, at, sig.length) && sig.every((v, i) => b[at + i] === v);
const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));

/** The offset of the PE signature when `b` starts with an MZ header whose e_lfanew points at `PE\0\0`. */
export function peHeaderOffset(b: Buffer, at = 0, limit = b.length): number | null {
  if (!startsWith(b, [0x4d, 0x5a], at) || !has(b, at + 0x3c, 4)) return null;
  const lfanew = u32(b, at + 0x3c);
  if (lfanew < MIN_LFANEW || lfanew > 0x10000000) return null;
  const pe = at + lfanew;
  if (pe + 4 > limit || !startsWith(b, [0x50, 0x45, 0, 0], pe)) return null;
  return pe;
}

/** Detects a sample's type from its magic numbers and, for text, from script heuristics. */
export async function detectFileType(source: ByteSource): Promise<FileTypeInfo> {
  const head = await source.read(0, HEAD);
  if (head.length === 0) return { type: 'unknown', format: 'empty' };

  if (startsWith(head, [0x4d, 0x5a])) {
    // e_lfanew may point past the head in odd files: read the four bytes where it points.
    const lfanew = u32(head, 0x3c);
    const sig = lfanew >= MIN_LFANEW ? await source.read(lfanew, 0x1a) : Buffer.alloc(0);
    if (startsWith(sig, [0x50, 0x45, 0, 0])) {
      const magic = u16(sig, 0x18);
      return { type: 'pe', format: magic === 0x20b ? 'pe32+' : 'pe32' };
    }
    return { type: 'unknown', format: 'mz' };
  }
  if (startsWith(head, [0x7f, 0x45, 0x4c, 0x46])) {
    return { type: 'elf', format: head[4] === 2 ? 'elf64' : 'elf32' };
  }
  const macho = detectMachO(head);
  if (macho !== null) return macho;
  if (startsWith(head, [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1])) {
    return { type: 'office', format: 'ole2' };
  }
  if (startsWith(head, ascii('PK')) && [0x0304, 0x0506, 0x0708].includes(u16(head, 2, false))) {
    return detectZip(source);
  }
  if (startsWith(head, ascii('Rar!\x1a\x07'))) {
    return { type: 'archive', format: 'rar', details: { version: head[6] === 1 ? 5 : 4 } };
  }
  if (startsWith(head, [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c])) return { type: 'archive', format: '7z' };
  if (startsWith(head, [0x1f, 0x8b])) return { type: 'archive', format: 'gzip' };
  if (startsWith(head, ascii('BZh')) && (head[3] ?? 0) >= 0x31 && (head[3] ?? 0) <= 0x39) {
    return { type: 'archive', format: 'bzip2' };
  }
  if (startsWith(head, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) return { type: 'archive', format: 'xz' };
  if (startsWith(head, ascii('MSCF')) && u32(head, 4) === 0) return { type: 'archive', format: 'cab' };
  // Readers accept %PDF- anywhere in the first kilobyte, and so does malware that hides the header.
  const pdf = head.subarray(0, 1024).indexOf('%PDF-');
  if (pdf >= 0) {
    return {
      type: 'pdf',
      format: 'pdf',
      details: { version: printable(head.subarray(pdf + 5, pdf + 8)), offset: pdf },
    };
  }
  return detectScript(head) ?? { type: 'unknown', format: 'unknown' };
}

const MACHO_CPU: Record<number, string> = {
  7: 'x86',
  0x01000007: 'x86_64',
  12: 'arm',
  0x0100000c: 'arm64',
  18: 'ppc',
  0x01000012: 'ppc64',
};

function detectMachO(b: Buffer): FileTypeInfo | null {
  const magic = u32(b, 0, false);
  const thin: Record<number, [string, boolean]> = {
    0xfeedface: ['macho32', false],
    0xcefaedfe: ['macho32', true],
    0xfeedfacf: ['macho64', false],
    0xcffaedfe: ['macho64', true],
  };
  const found = thin[magic];
  if (found !== undefined) {
    const cpu = u32(b, 4, found[1]);
    return {
      type: 'macho',
      format: found[0],
      details: { cpu: MACHO_CPU[cpu] ?? String(cpu), fileType: u32(b, 12, found[1]) },
    };
  }
  if (magic === 0xcafebabe || magic === 0xcafebabf) {
    // Java class files share 0xCAFEBABE; their next word (a version >= 45) is never a small arch count.
    const count = u32(b, 4, false);
    if (count === 0 || count > 32) return null;
    const entry = magic === 0xcafebabe ? 20 : 32;
    const arches: string[] = [];
    for (let i = 0; i < count && has(b, 8 + i * entry, 4); i++) {
      const cpu = u32(b, 8 + i * entry, false);
      arches.push(MACHO_CPU[cpu] ?? String(cpu));
    }
    return { type: 'macho', format: 'macho-fat', details: { arches: arches.join(','), count } };
  }
  return null;
}

/** A zip, or an OOXML document when it holds `[Content_Types].xml` (names from the central directory). */
async function detectZip(source: ByteSource): Promise<FileTypeInfo> {
  const names = await zipNames(source);
  if (names.includes('[Content_Types].xml')) {
    const app = names.some((n) => n.startsWith('word/'))
      ? 'word'
      : names.some((n) => n.startsWith('xl/'))
        ? 'excel'
        : names.some((n) => n.startsWith('ppt/'))
          ? 'powerpoint'
          : 'unknown';
    const macros = names.some((n) => n.toLowerCase().endsWith('vbaproject.bin'));
    return { type: 'office', format: 'ooxml', details: { application: app, macros } };
  }
  return { type: 'archive', format: 'zip', details: { entries: names.length } };
}

async function zipNames(source: ByteSource): Promise<string[]> {
  const tailStart = Math.max(0, source.size - ZIP_TAIL);
  const tail = await source.read(tailStart, ZIP_TAIL);
  const eocd = tail.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0 || !has(tail, eocd, 22)) return localNames(await source.read(0, HEAD));
  let entries = u16(tail, eocd + 10);
  let cdSize = u32(tail, eocd + 12);
  let cdOffset = u32(tail, eocd + 16);
  // Zip64 (zip -fz, archives over 4 GiB or 65,535 entries): the record's fields are 0xffff… and the real
  // ones are in the Zip64 end record its locator, just before, points at. Without it the walk fell back to
  // the local headers, whose sizes are 0xffffffff too, and saw one entry (an OOXML file read as a zip).
  if (
    (entries === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) &&
    eocd >= 20 &&
    u32(tail, eocd - 20) === 0x07064b50
  ) {
    const record = await source.read(toSafe(u64(tail, eocd - 20 + 8)), 56);
    if (has(record, 0, 56) && u32(record, 0) === 0x06064b50) {
      entries = toSafe(u64(record, 32));
      cdSize = toSafe(u64(record, 40));
      cdOffset = toSafe(u64(record, 48));
    }
  }
  const count = Math.min(entries, ZIP_MAX_ENTRIES);
  const cd = await source.read(cdOffset, Math.min(cdSize, 4 * 1024 * 1024));
  const names: string[] = [];
  let p = 0;
  for (let i = 0; i < count && has(cd, p, 46) && u32(cd, p) === 0x02014b50; i++) {
    const nameLength = u16(cd, p + 28);
    names.push(cd.subarray(p + 46, p + 46 + nameLength).toString('latin1'));
    p += 46 + nameLength + u16(cd, p + 30) + u16(cd, p + 32);
  }
  return names.length > 0 ? names : localNames(await source.read(0, HEAD));
}

/** Names from local file headers at the start (a truncated zip has no central directory). */
function localNames(b: Buffer): string[] {
  const names: string[] = [];
  let p = 0;
  while (names.length < ZIP_MAX_ENTRIES && has(b, p, 30) && u32(b, p) === 0x04034b50) {
    const nameLength = u16(b, p + 26);
    names.push(b.subarray(p + 30, p + 30 + nameLength).toString('latin1'));
    const flags = u16(b, p + 6);
    const compressed = u32(b, p + 18);
    // With a data descriptor the size is unknown here: stop rather than guess.
    if ((flags & 0x08) !== 0) break;
    p += 30 + nameLength + u16(b, p + 28) + compressed;
  }
  return names;
}

interface Pattern {
  re: RegExp;
  /** Words of which every match of the pattern holds one: the pattern runs only if the text may hold one. */
  needles: Word[];
}

const p = (re: RegExp, ...needles: string[]): Pattern => ({ re, needles: needles.map(word) });

interface Heuristic {
  format: string;
  patterns: Pattern[];
}

// Each pattern that occurs scores one point; the best format with at least two points wins.
const SCRIPT_HEURISTICS: Heuristic[] = [
  {
    format: 'powershell',
    patterns: [
      p(/\b(?:invoke-expression|iex)\b/i, 'invoke-expression', 'iex'),
      p(/\bnew-object\b/i, 'new-object'),
      p(/\$env:/i, '$env:'),
      p(
        /\b(?:write-host|write-output|get-item|get-childitem|set-itemproperty|start-process)\b/i,
        'write-host',
        'write-output',
        'get-item',
        'get-childitem',
        'set-itemproperty',
        'start-process',
      ),
      p(/\[(?:system\.)?(?:convert|text\.encoding|io\.|net\.|reflection\.)/i, '['),
      p(
        /-(?:executionpolicy|windowstyle|noprofile|encodedcommand)\b/i,
        '-executionpolicy',
        '-windowstyle',
        '-noprofile',
        '-encodedcommand',
      ),
      p(/\bparam\s*\(/i, 'param'),
      p(/\$[a-z_][a-z0-9_]*\s*=\s*/i, '$'),
    ],
  },
  {
    format: 'javascript',
    patterns: [
      p(/\bfunction(?:\s+[\w$]+)?\s*\(/, 'function'),
      p(/\b(?:var|let|const)\s+[a-z_$][\w$]*\s*=/i, 'var', 'let', 'const'),
      p(/\bnew\s+activexobject\s*\(/i, 'activexobject'),
      p(/\bwscript\.(?:createobject|shell|echo|sleep)\b/i, 'wscript.'),
      p(/\beval\s*\(/, 'eval'),
      p(/\bdocument\.(?:write|getelementbyid|createelement)\b/i, 'document.'),
      p(/\bstring\.fromcharcode\s*\(/i, 'string.fromcharcode'),
      p(/=>\s*\{/, '=>'),
    ],
  },
  {
    format: 'vbscript',
    patterns: [
      p(/^[ \t]*dim\s+\w+/im, 'dim'),
      p(/^[ \t]*set\s+\w+\s*=\s*createobject\s*\(/im, 'createobject'),
      p(/\bcreateobject\s*\(\s*"/i, 'createobject'),
      p(/^[ \t]*on\s+error\s+resume\s+next/im, 'resume'),
      p(/^[ \t]*end\s+(?:sub|function|if)\b/im, 'end'),
      p(/\bwscript\.(?:createobject|shell|echo|sleep)\b/i, 'wscript.'),
      p(/\bchr\s*\(\s*\d+\s*\)\s*&/i, 'chr'),
    ],
  },
  {
    format: 'batch',
    patterns: [
      p(/^[ \t]*@echo\s+off/im, '@echo'),
      p(/^[ \t]*(?:set|setlocal)\s+\w*/im, 'set'),
      p(/%~?[0-9]\b|%[a-z_][a-z0-9_]*%/i, '%'),
      p(/^[ \t]*goto\s+:?\w+/im, 'goto'),
      p(/^[ \t]*rem\s/im, 'rem'),
    ],
  },
];

function detectScript(head: Buffer): FileTypeInfo | null {
  const text = decodeText(head);
  if (text === null) return null;
  if (text.startsWith('#!')) {
    const line = text.slice(2, 256).split(/\r?\n/, 1)[0]?.trim() ?? '';
    const words = line.split(/\s+/);
    const program = (words[0] ?? '').split('/').pop() ?? '';
    const interpreter =
      program === 'env' ? (words.find((w, i) => i > 0 && !w.startsWith('-')) ?? 'env') : program;
    // Only printable ASCII leaves an analyzer: PostgreSQL's jsonb refuses NUL and lone surrogates.
    const clean = interpreter.slice(0, 64).replace(/[^\x20-\x7e]/g, '?');
    return { type: 'script', format: 'shebang', details: { interpreter: clean } };
  }
  let best: { format: string; score: number } | null = null;
  const words = new TextIndex(text);
  for (const h of SCRIPT_HEURISTICS) {
    // A format wins with at least two points and more than the best so far: once it cannot get there,
    // its remaining patterns need not run over the text.
    const needed = Math.max(2, (best?.score ?? 0) + 1);
    let score = 0;
    for (let i = 0; i < h.patterns.length && score + h.patterns.length - i >= needed; i++) {
      const pattern = h.patterns[i] as Pattern;
      if (pattern.needles.some((n) => words.mayContain(n)) && pattern.re.test(text)) score++;
    }
    if (score >= needed) best = { format: h.format, score };
  }
  if (best !== null) return { type: 'script', format: best.format, details: { score: best.score } };
  return { type: 'unknown', format: 'text' };
}

/** The head as text when it looks like text (UTF-8/ASCII, or UTF-16LE with or without a BOM), else null. */
/**
 * UTF-16 by its byte order mark, else by nine in ten of one byte of each pair being zero (ASCII text in
 * UTF-16): little-endian has them at the odd bytes, big-endian at the even ones. Null for anything else.
 */
function utf16Order(sample: Buffer): { order: 'le' | 'be'; bom: boolean } | null {
  if (sample[0] === 0xff && sample[1] === 0xfe) return { order: 'le', bom: true };
  if (sample[0] === 0xfe && sample[1] === 0xff) return { order: 'be', bom: true };
  let even = 0;
  let odd = 0;
  for (let i = 0; i < sample.length; i += 2) {
    if (sample[i] === 0) even++;
    if (i + 1 < sample.length && sample[i + 1] === 0) odd++;
  }
  const most = (sample.length / 2) * 0.9;
  if (odd > most) return { order: 'le', bom: false };
  if (even > most) return { order: 'be', bom: false };
  return null;
}

function decodeText(head: Buffer): string | null {
  const sample = head.subarray(0, 16 * 1024);
  if (sample.length < 4) return null;
  const utf16 = utf16Order(sample);
  if (utf16 !== null) {
    const body = sample.subarray(utf16.bom ? 2 : 0, sample.length - (sample.length % 2));
    // Big-endian is swapped (on a copy) to decode as little-endian.
    const text = (utf16.order === 'be' ? Buffer.from(body).swap16() : body).toString('utf16le');
    return mostlyText(text) ? text : null;
  }
  const start = sample[0] === 0xef && sample[1] === 0xbb && sample[2] === 0xbf ? 3 : 0;
  const bytes = sample.subarray(start);
  // Binary data is told apart before decoding: ASCII control bytes decode to one character each and no
  // byte decodes to more than one, so this share of them is at most their share of the decoded text.
  const { controls, ascii } = controlBytes(bytes);
  if (bytes.length > 0 && controls / bytes.length >= MAX_BAD_SHARE) return null;
  // ASCII decodes to the same characters, one per byte: mostlyText would count what was just counted.
  if (ascii) return bytes.length > 0 ? bytes.toString('latin1') : null;
  const text = bytes.toString('utf8');
  return mostlyText(text) ? text : null;
}

/** Share of bad characters above which a head is not text (see {@link mostlyText}). */
const MAX_BAD_SHARE = 0.02;

/** 1 for the characters below 256 that {@link mostlyText} counts as bad (ASCII controls but tab, LF, FF, CR; DEL). */
const CONTROL = Uint8Array.from({ length: 256 }, (_, c) =>
  (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d && c !== 0x0c) || c === 0x7f ? 1 : 0,
);

/** How many bytes are ASCII controls that count as bad, and whether every byte is ASCII (one table read each). */
function controlBytes(bytes: Buffer): { controls: number; ascii: boolean } {
  let controls = 0;
  let any = 0;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i] as number;
    controls += CONTROL[c] as number;
    any |= c;
  }
  return { controls, ascii: any < 0x80 };
}

function mostlyText(text: string): boolean {
  let bad = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    bad += c < 0x100 ? (CONTROL[c] as number) : c === 0xfffd ? 1 : 0;
  }
  return text.length > 0 && bad / text.length < MAX_BAD_SHARE;
}
