// Retrohunt benchmark: MB/s of a retrohunt over a stored corpus of >= 300 MB through the real service
// (POST /v1/retrohunts, batch jobs on the retrohunt queue, storage reads, libs/yara scans, progress and
// matches written per batch) against the `yara` command-line tool over the same stored files with the
// same rule text and the same number of threads, in the same run. Prints MB/s (10^6 bytes) for both and
// the ratio service / CLI (goal >= 0.8), for a small hunting rule and for signature-base-534.
//
// Fairness: the corpus (bench:scan's mixed corpus: 4 KiB to 8 MiB files, random, text, PE-like, EICAR) is
// ingested through the API first and every ingest scan has finished before the clock starts, so the
// scanner is idle and the objects are in the page cache for both sides (the CLI walks the same storage
// folder, -r). Both sides compile the rule text themselves and that time counts: the service is timed
// from POST /v1/retrohunts to the poll (every POLL_MS) that sees it `done`, the CLI from spawn to exit.
// The poll reads the progress without the rule text (`source=false`), as a client following a hunt
// would: re-reading signature-base's 0.5 MB 20 times a second cost the API and this process ~17 ms of
// CPU a poll, taken from the scan threads on a 2-core machine, and the CLI has no observer to pay
// (BENCH_POLL_SOURCE=1 polls the whole view, rule text included, as this benchmark did before).
// The scanner runs with RETROHUNT_CONCURRENCY = SCANNER_THREADS = THREADS (the default concurrency is 1,
// so that retrohunts never crowd out ingest scans; a deployment that wants fast hunts raises it), the CLI
// with -p THREADS. The CLI prints one line per match; the service stores each match with its strings.
// Cases run REPEAT times, interleaved; the table shows the median.
// Run: npm run bench:retrohunt   (BENCH_CORPUS_MB=100 BENCH_REPEAT=1 for a shorter run; BENCH_THREADS=2;
// BENCH_POLL_SOURCE=1)
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { readFile, writeFile, mkdtemp, rm } from 'node:fs/promises';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

import { submitMultipart } from './multipart.js';
import { TestService, pollUntil, query } from '#test-support';
import { yaraVersion } from '#yara';
import { ROOT, SHARED_RULESETS, ensureCorpus, generatedRuleset } from './corpus.js';
import { median, processCpuMs } from './measure.js';

const CORPUS_MB = Number(process.env.BENCH_CORPUS_MB ?? 320);
const THREADS = Number(process.env.BENCH_THREADS ?? 2);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const CORPUS_DIR = join(ROOT, 'bench', '.data', 'scan-corpus');
const POLL_MS = 50;
const POLL_QUERY = process.env.BENCH_POLL_SOURCE === '1' ? '?limit=1' : '?limit=1&source=false';
const UPLOADS_IN_FLIGHT = 4;

/** What an analyst typically hunts with: a few plain, hex and regex strings. */
const HUNTING_RULE = `rule hunt_packed_or_test_file {
  meta:
    description = "UPX section names, the DOS stub text or the EICAR test string"
  strings:
    $upx = { 55 50 58 30 00 00 00 00 }
    $stub = "This program cannot be run in DOS mode" ascii
    $eicar = /EICAR-STANDARD-ANTIVIRUS-TEST-FILE/
  condition:
    any of them
}
`;

const agent = new Agent({ keepAlive: true, maxSockets: UPLOADS_IN_FLIGHT });

/** A streamed multipart submission of one corpus file. */
async function submit(
  baseUrl: string,
  token: string,
  path: string,
  sha256: string,
  size: number,
): Promise<void> {
  const metadata = { kind: 'file', sha256, size };
  await submitMultipart({ baseUrl, token, metadata, file: () => createReadStream(path), size, agent });
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

async function ingestCorpus(service: TestService, files: string[]): Promise<void> {
  const token = await service.token('agent');
  let next = 0;
  await Promise.all(
    Array.from({ length: UPLOADS_IN_FLIGHT }, async () => {
      for (let i = next++; i < files.length; i = next++) {
        const path = files[i];
        if (path === undefined) break;
        await submit(service.baseUrl, token, path, await sha256Of(path), statSync(path).size);
      }
    }),
  );
  const samples = new Set(await Promise.all(files.map(sha256Of))).size;
  await pollUntil(
    async () => {
      const [row] = await query<{ n: string }>(
        service.databaseUrl,
        "select count(*) as n from samples where scan_status <> 'pending'",
      );
      return Number(row?.n) >= samples ? true : undefined;
    },
    { timeoutMs: 30 * 60_000, intervalMs: 500, what: 'the ingest scans of the corpus' },
  );
}

interface Run {
  seconds: number;
  bytes: number;
  matches: number;
  /** CPU seconds (user + system) of the scanner process, or of the yara process. */
  cpuSeconds: number;
}

async function runService(service: TestService, source: string): Promise<Run> {
  const cpuBefore = processCpuMs(service.scanner?.pid) / 1000;
  const start = process.hrtime.bigint();
  const res = await service.request('/v1/retrohunts', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ source }),
  });
  if (res.status !== 201) throw new Error(`retrohunt: ${res.status} ${await res.text()}`);
  const { id } = (await res.json()) as { id: string };
  const done = await pollUntil(
    async () => {
      const view = (await (await service.request(`/v1/retrohunts/${id}${POLL_QUERY}`)).json()) as {
        status: string;
        progress: { bytes: number };
        matchCount: number;
        error: string | null;
      };
      if (view.status === 'failed' || view.status === 'cancelled') {
        throw new Error(`retrohunt ${view.status}: ${view.error ?? ''}\n${service.output()}`);
      }
      return view.status === 'done' ? view : undefined;
    },
    { timeoutMs: 30 * 60_000, intervalMs: POLL_MS, what: `retrohunt ${id}` },
  );
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = processCpuMs(service.scanner?.pid) / 1000 - cpuBefore;
  return { seconds, bytes: done.progress.bytes, matches: done.matchCount, cpuSeconds: cpu };
}

function runCli(rulesFile: string, dir: string, bytes: number): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn('yara', ['-r', '-w', '-p', String(THREADS), rulesFile, dir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let lines = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      for (const byte of chunk) if (byte === 0x0a) lines++;
    });
    // Its CPU time is read while it runs (the last reading before exit: a slight undercount).
    let cpu = 0;
    const sampler = setInterval(() => {
      const seen = processCpuMs(child.pid) / 1000;
      if (Number.isFinite(seen)) cpu = Math.max(cpu, seen);
    }, 20);
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(sampler);
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      if (code === 0) resolvePromise({ seconds, bytes, matches: lines, cpuSeconds: cpu });
      else reject(new Error(`yara exited with ${code}`));
    });
  });
}

async function main(): Promise<void> {
  const { files, bytes } = await ensureCorpus(CORPUS_DIR, CORPUS_MB);
  const work = await mkdtemp(join(tmpdir(), 'specimen-retrohunt-bench-'));
  const service = new TestService({
    env: {
      LOG_LEVEL: 'warn',
      SCAN_CONCURRENCY: String(THREADS),
      SCANNER_THREADS: String(THREADS),
      RETROHUNT_CONCURRENCY: String(THREADS),
    },
  });
  await service.start();
  try {
    const signatureBase = join(SHARED_RULESETS, 'signature-base-534.yar');
    const cases = [
      { name: 'hunting rule (3 strings)', source: HUNTING_RULE },
      existsSync(signatureBase)
        ? { name: 'signature-base-534', source: await readFile(signatureBase, 'utf8') }
        : { name: 'generated 400 rules', source: generatedRuleset() },
    ];
    console.log(
      `retrohunt: ${files.length} files, ${(bytes / 1e6).toFixed(1)} MB (${CORPUS_DIR}), ${THREADS} threads, ` +
        `libyara ${yaraVersion()}; ${REPEAT} runs each, median shown\ningesting the corpus through the API…`,
    );
    await ingestCorpus(service, files);
    const storageDir = service.storageDir ?? '';
    const [stored] = await query<{ bytes: string }>(
      service.databaseUrl,
      'select sum(size) as bytes from samples',
    );
    const storedBytes = Number(stored?.bytes);

    const rows = [];
    for (const c of cases) {
      const rulesFile = join(work, `${c.name.replace(/\W+/g, '-')}.yar`);
      await writeFile(rulesFile, c.source);
      // Warm-up of both (JIT, page cache), not counted.
      await runService(service, c.source);
      await runCli(rulesFile, storageDir, storedBytes);
      const service_: Run[] = [];
      const cli: Run[] = [];
      for (let r = 0; r < REPEAT; r++) {
        service_.push(await runService(service, c.source));
        cli.push(await runCli(rulesFile, storageDir, storedBytes));
      }
      const serviceRate = (service_[0]?.bytes ?? 0) / 1e6 / median(service_.map((x) => x.seconds));
      const cliRate = storedBytes / 1e6 / median(cli.map((x) => x.seconds));
      rows.push({
        rules: c.name,
        'retrohunt MB/s': Number(serviceRate.toFixed(1)),
        'yara CLI MB/s': Number(cliRate.toFixed(1)),
        'ratio service/CLI': Number((serviceRate / cliRate).toFixed(3)),
        'scanner CPU s': Number(median(service_.map((x) => x.cpuSeconds)).toFixed(2)),
        'yara CPU s': Number(median(cli.map((x) => x.cpuSeconds)).toFixed(2)),
        'retrohunt matches': service_[0]?.matches ?? 0,
        'CLI matches': cli[0]?.matches ?? 0,
      });
    }
    console.table(rows);
    const worst = Math.min(...rows.map((row) => row['ratio service/CLI']));
    console.log(`goal ratio >= 0.8: ${worst >= 0.8 ? 'met' : 'NOT met'} (worst ${worst})`);
  } finally {
    agent.destroy();
    await service.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
