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
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { DEFAULT_RULESET_PATH, type YaraRules, loadRules, yaraVersion } from '#yara';
import { ROOT, SHARED_RULESETS, ensureCorpus as ensureMixedCorpus, generatedRuleset } from './corpus.js';
import { median } from './measure.js';

const CORPUS_MB = Number(process.env.BENCH_CORPUS_MB ?? 320);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const THREADS = [1, 2] as const;

const CORPUS_DIR = join(ROOT, 'bench', '.data', 'scan-corpus');
const RULESET = join(SHARED_RULESETS, 'signature-base-534.yar');

const ensureCorpus = (): Promise<{ files: string[]; bytes: number }> =>
  ensureMixedCorpus(CORPUS_DIR, CORPUS_MB);

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
