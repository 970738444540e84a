// Scan benchmark: libs/yara scanFile over a mixed corpus of >= 300 MB against the `yara` command-line tool
// with the same compiled rules, in the same run, at 1 and 2 threads. Prints MB/s (10^6 bytes) and the
// ratio libs/yara / yara CLI at equal thread counts (goal >= 0.95).
//
// Fairness: the rules (signature-base-534 plus libs/yara's default.yar, so some files match) are compiled
// once with `yarac`; the CLI loads that file (-C), libs/yara loads the same file with loadRules(), so
// neither side's timing includes compiling. Each libs/yara run is a child process whose libuv pool has as
// many threads as scans in flight (UV_THREADPOOL_SIZE=N, as a scanner worker would be deployed), the way
// `yara -p N` has N scan threads; it is timed from the first scan to the last result, while the CLI is
// timed from spawn to exit (its start-up and rules load, ~20 ms, count against it). The CLI walks the
// folder itself (-r) and prints one line per match; libs/yara gets the file list up front and also
// collects string offsets (capped per string). Every configuration runs REPEAT times, interleaved, after
// a page-cache warm-up; the table shows the median.
// Run: npm run bench:scan   (BENCH_CORPUS_MB=100 for a shorter run, BENCH_REPEAT=1)
import { execFileSync, spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { DEFAULT_RULESET_PATH, type YaraRules, loadRules, yaraVersion } from '#yara';

const KiB = 1024;
const CORPUS_MB = Number(process.env.BENCH_CORPUS_MB ?? 320);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const THREADS = [1, 2] as const;

const ROOT = resolve(DEFAULT_RULESET_PATH, '../../../..');
const CORPUS_DIR = join(ROOT, 'bench', '.data', 'scan-corpus');
const RULESET = join(ROOT, '..', 'shared', 'rulesets', 'signature-base-534.yar');
const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';

/** Small deterministic PRNG (xorshift32) so a regenerated corpus has the same shape. */
function prng(seed: number): () => number {
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

const WORDS = (
  'the of and to in is that for it as was with be by on not he this are or his from at which but have an ' +
  'they you were her she there been one all would their we him has when who will more no if out so said ' +
  'what up its about than into them can only other new some could time these two may then do first any ' +
  'request response error warning info debug user session token server client config value return ' +
  'function const let var import export class interface string number boolean null undefined'
).split(' ');

function textBlock(random: () => number, size: number): Buffer {
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
function peFile(random: () => number, size: number, upx: boolean): Buffer {
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

function corpusFile(random: () => number, index: number): { name: string; data: Buffer } {
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

async function ensureCorpus(): Promise<{ files: string[]; bytes: number }> {
  const marker = join(CORPUS_DIR, '.complete');
  if (!existsSync(marker) || readFileSync(marker, 'utf8') !== String(CORPUS_MB)) {
    await rm(CORPUS_DIR, { recursive: true, force: true });
    await mkdir(CORPUS_DIR, { recursive: true });
    const random = prng(0x5ca9);
    let bytes = 0;
    for (let i = 0; bytes < CORPUS_MB * 1e6; i++) {
      const { name, data } = corpusFile(random, i);
      await writeFile(join(CORPUS_DIR, name), data);
      bytes += data.length;
    }
    await writeFile(marker, String(CORPUS_MB));
  }
  const files = readdirSync(CORPUS_DIR)
    .filter((name) => name.endsWith('.bin'))
    .sort()
    .map((name) => join(CORPUS_DIR, name));
  return { files, bytes: files.reduce((sum, file) => sum + statSync(file).size, 0) };
}

/** Used only when the shared signature-base file is absent: a few hundred plain, hex and regex rules. */
function generatedRuleset(): string {
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

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

async function warmPageCache(files: string[]): Promise<void> {
  for (const file of files) await readFile(file);
}

async function scanAll(
  rules: YaraRules,
  files: string[],
  threads: number,
): Promise<{ seconds: number; matches: number }> {
  let next = 0;
  let matches = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: threads }, async () => {
      for (let i = next++; i < files.length; i = next++) {
        const file = files[i];
        if (file === undefined) break;
        const result = await rules.scanFile(file);
        matches += result.matches.length;
      }
    }),
  );
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, matches };
}

/** Runs scanAll in a child process whose libuv pool has exactly `threads` threads. */
function runLibrary(compiled: string, threads: number): Promise<{ seconds: number; matches: number }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(
      process.execPath,
      [fileURLToPath(import.meta.url), '--child', String(threads), compiled],
      {
        env: { ...process.env, UV_THREADPOOL_SIZE: String(threads) },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolvePromise(JSON.parse(output) as { seconds: number; matches: number });
      else reject(new Error(`benchmark child exited with ${code}`));
    });
  });
}

async function child(threads: number, compiled: string): Promise<void> {
  const { files } = await ensureCorpus();
  const rules = loadRules(compiled);
  process.stdout.write(JSON.stringify(await scanAll(rules, files, threads)));
  rules.destroy();
}

function runCli(compiled: string, threads: number): Promise<{ seconds: number; matches: number }> {
  return new Promise((resolvePromise, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn('yara', ['-r', '-p', String(threads), '-C', compiled, CORPUS_DIR], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let lines = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      for (const byte of chunk) if (byte === 0x0a) lines++;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      if (code === 0) resolvePromise({ seconds, matches: lines });
      else reject(new Error(`yara exited with ${code}`));
    });
  });
}

async function main(): Promise<void> {
  const { files, bytes } = await ensureCorpus();
  const work = await mkdtemp(join(tmpdir(), 'specimen-scan-bench-'));
  try {
    let source = RULESET;
    if (!existsSync(RULESET)) {
      source = join(work, 'generated.yar');
      await writeFile(source, generatedRuleset());
    }
    const compiled = join(work, 'rules.yarc');
    execFileSync('yarac', ['-w', source, DEFAULT_RULESET_PATH, compiled]);
    const rules = loadRules(compiled);
    const cliVersion = execFileSync('yara', ['--version'], { encoding: 'utf8' }).trim();

    console.log(
      `corpus: ${(bytes / 1e6).toFixed(1)} MB in ${files.length} files (${CORPUS_DIR})\n` +
        `rules: ${source} + default.yar (${rules.ruleCount} rules, compiled once with yarac)\n` +
        `libyara ${yaraVersion()} (libs/yara), yara CLI ${cliVersion}; repeats: ${REPEAT}, median shown\n`,
    );
    await warmPageCache(files);
    await scanAll(rules, files, 2);

    const results = new Map<string, { seconds: number[]; matches: number }>();
    const record = (key: string, run: { seconds: number; matches: number }): void => {
      const entry = results.get(key) ?? { seconds: [], matches: run.matches };
      entry.seconds.push(run.seconds);
      results.set(key, entry);
    };
    for (let r = 0; r < REPEAT; r++) {
      for (const threads of THREADS) {
        record(`lib-${threads}`, await runLibrary(compiled, threads));
        record(`cli-${threads}`, await runCli(compiled, threads));
      }
    }

    const rows = THREADS.map((threads) => {
      const lib = results.get(`lib-${threads}`);
      const cli = results.get(`cli-${threads}`);
      const libRate = bytes / 1e6 / median(lib?.seconds ?? []);
      const cliRate = bytes / 1e6 / median(cli?.seconds ?? []);
      return {
        threads,
        'libs/yara MB/s': Number(libRate.toFixed(1)),
        'yara CLI MB/s': Number(cliRate.toFixed(1)),
        'ratio lib/CLI': Number((libRate / cliRate).toFixed(3)),
        'lib matches': lib?.matches ?? 0,
        'CLI matches': cli?.matches ?? 0,
      };
    });
    console.table(rows);
    const worst = Math.min(...rows.map((row) => row['ratio lib/CLI']));
    console.log(`goal ratio >= 0.95: ${worst >= 0.95 ? 'met' : 'NOT met'} (worst ${worst})`);
    rules.destroy();
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') await child(Number(process.argv[3]), process.argv[4] ?? '');
else await main();
