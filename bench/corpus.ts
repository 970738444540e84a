// Shared by the benchmarks: a deterministic PRNG, the mixed scan corpus, and the rulesets they scan with.
import { randomBytes, randomFillSync } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { DEFAULT_RULESET_PATH } from '#yara';

export const KiB = 1024;
/** The project checkout (bench/.data lives here). */
export const ROOT = resolve(DEFAULT_RULESET_PATH, '../../../..');
/** Public rulesets shared beside the checkouts (may be absent: callers fall back on generatedRuleset()). */
export const SHARED_RULESETS = join(ROOT, '..', 'shared', 'rulesets');
export const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';

/** Small deterministic PRNG (xorshift32) so a regenerated corpus has the same shape. */
export function prng(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 2 ** 32;
  };
}

export const WORDS = (
  'the of and to in is that for it as was with be by on not he this are or his from at which but have an ' +
  'they you were her she there been one all would their we him has when who will more no if out so said ' +
  'what up its about than into them can only other new some could time these two may then do first any ' +
  'request response error warning info debug user session token server client config value return ' +
  'function const let var import export class interface string number boolean null undefined'
).split(' ');

export function textBlock(random: () => number, size: number): Buffer {
  const lines: string[] = [];
  let length = 0;
  while (length < size) {
    const count = 4 + Math.floor(random() * 14);
    const words = Array.from({ length: count }, () => WORDS[Math.floor(random() * WORDS.length)] ?? 'x');
    const line =
      random() < 0.3
        ? `2024-05-${String(1 + Math.floor(random() * 28)).padStart(2, '0')}T12:00:00Z INFO ${words.join(' ')}`
        : words.join(' ');
    lines.push(line);
    length += line.length + 1;
  }
  return Buffer.from(lines.join('\n')).subarray(0, size);
}

/** A plausible PE header (MZ, DOS stub, PE32 with three sections) followed by random bytes. */
export function peFile(random: () => number, size: number, upx: boolean): Buffer {
  const buffer = Buffer.alloc(size);
  randomFillSync(buffer, 0x400);
  buffer.write('MZ', 0, 'latin1');
  buffer.writeUInt32LE(0x80, 0x3c);
  buffer.write('This program cannot be run in DOS mode.\r\r\n$', 0x4e, 'latin1');
  buffer.write('PE\0\0', 0x80, 'latin1');
  const coff = 0x84;
  buffer.writeUInt16LE(0x14c, coff);
  buffer.writeUInt16LE(3, coff + 2);
  buffer.writeUInt32LE(0x60000000 + Math.floor(random() * 0x1000000), coff + 4);
  buffer.writeUInt16LE(0xe0, coff + 16);
  buffer.writeUInt16LE(0x0102, coff + 18);
  const optional = coff + 20;
  buffer.writeUInt16LE(0x10b, optional);
  buffer.writeUInt32LE(0x1000, optional + 16);
  buffer.writeUInt32LE(0x400000, optional + 28);
  buffer.writeUInt32LE(0x1000, optional + 32);
  buffer.writeUInt32LE(0x200, optional + 36);
  buffer.writeUInt16LE(2, optional + 68);
  buffer.writeUInt32LE(16, optional + 92);
  const names = upx ? ['UPX0', 'UPX1', '.rsrc'] : ['.text', '.rdata', '.data'];
  const body = Math.max(0x200, Math.floor((size - 0x400) / 3 / 0x200) * 0x200);
  names.forEach((name, i) => {
    const header = optional + 0xe0 + i * 40;
    buffer.write(name, header, 'latin1');
    buffer.writeUInt32LE(body, header + 8);
    buffer.writeUInt32LE(0x1000 * (i + 1), header + 12);
    buffer.writeUInt32LE(Math.min(body, Math.max(0, size - 0x400 - i * body)), header + 16);
    buffer.writeUInt32LE(0x400 + i * body, header + 20);
    buffer.writeUInt32LE(i === 0 ? 0x60000020 : 0xc0000040, header + 36);
  });
  return buffer;
}

export function corpusFile(random: () => number, index: number): { name: string; data: Buffer } {
  // Log-uniform sizes from 4 KiB to 8 MiB: many small files, most bytes in big ones.
  const size = Math.floor(4 * KiB * Math.pow(2048, random()));
  const roll = random();
  let kind: string;
  let data: Buffer;
  if (roll < 0.3) {
    kind = 'random';
    data = randomFillSync(Buffer.alloc(size));
  } else if (roll < 0.6) {
    kind = 'text';
    data = textBlock(random, size);
  } else if (roll < 0.75) {
    kind = 'pattern';
    const period = 1 + Math.floor(random() * 64);
    const unit = randomFillSync(Buffer.alloc(period));
    data = Buffer.alloc(size, random() < 0.5 ? unit : 0);
  } else if (roll < 0.92) {
    kind = 'pe';
    data = peFile(random, Math.max(size, 8 * KiB), random() < 0.25);
  } else {
    kind = 'eicar';
    data = random() < 0.3 ? Buffer.from(EICAR) : textBlock(random, size);
    if (data.length > EICAR.length * 2)
      data.write(EICAR, Math.floor(random() * (data.length - EICAR.length)));
  }
  return { name: `${String(index).padStart(4, '0')}-${kind}.bin`, data };
}

/**
 * The mixed corpus of at least `megabytes` MB in `dir` (generated once, deterministic): log-uniform sizes
 * from 4 KiB to 8 MiB of random, text, repeated-pattern, PE-like and EICAR-bearing files.
 */
export async function ensureCorpus(
  dir: string,
  megabytes: number,
): Promise<{ files: string[]; bytes: number }> {
  const marker = join(dir, '.complete');
  if (!existsSync(marker) || readFileSync(marker, 'utf8') !== String(megabytes)) {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const random = prng(0x5ca9);
    let bytes = 0;
    for (let i = 0; bytes < megabytes * 1e6; i++) {
      const { name, data } = corpusFile(random, i);
      await writeFile(join(dir, name), data);
      bytes += data.length;
    }
    await writeFile(marker, String(megabytes));
  }
  const files = readdirSync(dir)
    .filter((name) => name.endsWith('.bin'))
    .sort()
    .map((name) => join(dir, name));
  return { files, bytes: files.reduce((sum, file) => sum + statSync(file).size, 0) };
}

/** Used only when the shared signature-base file is absent: a few hundred plain, hex and regex rules. */
export function generatedRuleset(): string {
  const random = prng(534);
  const hex = (n: number): string =>
    Array.from({ length: n }, () =>
      random() < 0.1
        ? '??'
        : Math.floor(random() * 256)
            .toString(16)
            .padStart(2, '0'),
    ).join(' ');
  const word = (): string =>
    Array.from({ length: 3 }, () => WORDS[Math.floor(random() * WORDS.length)]).join('_');
  const rules: string[] = ['import "pe"', 'import "math"'];
  for (let i = 0; i < 400; i++) {
    rules.push(
      `rule generated_${i} {\n  strings:\n    $a = "${word()}${i}" ascii wide\n    $b = { ${hex(8 + (i % 8))} }\n` +
        `    $c = /${word()}[0-9]{2,4}/\n  condition:\n    ${i % 5 === 0 ? 'pe.is_pe and ' : ''}any of them\n}`,
    );
  }
  return rules.join('\n');
}

/**
 * `bench/.data/resumable-<mib>m.bin`: `mib` MiB of random bytes (nothing along the way can shortcut the work
 * by compressing), made once and reused while its size is right.
 */
export async function randomFile(mib: number): Promise<string> {
  const dir = join(ROOT, 'bench', '.data');
  const path = join(dir, `resumable-${mib}m.bin`);
  if (!existsSync(path) || statSync(path).size !== mib * 1024 * KiB) {
    await mkdir(dir, { recursive: true });
    let left = mib;
    await pipeline(
      Readable.from(
        (function* () {
          while (left-- > 0) yield randomBytes(1024 * KiB);
        })(),
      ),
      createWriteStream(path),
    );
  }
  return path;
}
