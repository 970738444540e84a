// End-to-end scan benchmark: 10,000 samples of 4 KiB each, from queued to verdict recorded in PostgreSQL
// through the real scanner process (BullMQ worker, storage read, file type and analyzers, libs/yara scan,
// the scan/matches/verdict transaction), against raw libs/yara scanFile over the same 10,000 stored files
// with the same compiled rules and the same thread count, in the same run. Prints samples/s for both and
// the ratio scanner / raw libs/yara (goal >= 0.5: queue and database at most double the cost).
//
// How samples enter: through the API (multipart POST /v1/submissions, as agents send them), so the jobs,
// their options and ids, the sample rows and the objects are exactly what production creates. Ingest is
// not what this measures (bench:ingest does), so the scan queue is paused (BullMQ Queue.pause) during
// ingest; once every job is queued and the scanner is up with its rules loaded, the queue is resumed and
// the clock runs from that instant until the database holds a verdict for the last sample (the scan
// queue's finished jobs polled every POLL_MS, so the figure can be late by up to that much; a job finishes
// after its transaction commits, and the database's count is checked after the clock stops). Inserting rows
// and jobs directly would skip the API but would have to copy its job options, ids and row shapes, and
// could drift from them silently.
//
// Fairness: the rules are those the scanner itself compiled and cached (RULES_CACHE_DIR; the baseline
// loads that very file with loadRules), so neither side's timing includes compiling. The ruleset is
// signature-base-534 plus libs/yara's default.yar (so EICAR-bearing samples match and matches get written),
// created and activated through the API; a generated ruleset stands in when ../shared/rulesets is absent.
// The scanner runs with SCAN_CONCURRENCY = SCANNER_THREADS = THREADS (and its default SCAN_JOBS_IN_FLIGHT,
// 32 × THREADS jobs held, of which THREADS scan) and SCAN_PREFETCH = THREADS (its default: THREADS more scans
// wait in the thread pool's queue); the baseline is a child process with UV_THREADPOOL_SIZE = THREADS and as
// many scans in flight as the scanner hands its pool (THREADS + SCAN_PREFETCH), with the same externals
// (kind, file type, size) and the same timeout. PostgreSQL and Redis run on the same machine and their CPU counts against the scanner, as in a
// one-box deployment. Every round ingests 10,000 fresh samples; rounds interleave scanner and baseline;
// the table shows the median. Each round also prints the CPU time per sample of the scanner process, of
// this database's PostgreSQL backends and of the baseline, and how busy the whole machine was: on a
// shared machine the wall-clock ratio depends on the neighbours, the CPU cost per sample much less.
// Run: npm run bench:scan-e2e   (BENCH_SAMPLES=2000 BENCH_REPEAT=1 for a shorter run; BENCH_THREADS=2;
// BENCH_JOBS_IN_FLIGHT for the scanner's SCAN_JOBS_IN_FLIGHT, BENCH_SCAN_PREFETCH for its SCAN_PREFETCH;
// BENCH_RULESET=/path/to/rules.yar for another ruleset, BENCH_RULESET=default for default.yar alone;
// BENCH_CPU_PROF=/some/dir for CPU profiles of the API and scanner; BENCH_NODE_OPTIONS for other node
// flags of both, e.g. --perf-basic-prof to name JavaScript frames for `perf record -p <scanner pid>`, which
// counts CPU time: on a loaded machine --cpu-prof's samples also weigh the time a thread was preempted (a
// scan's start, where the main thread wakes a pool thread, looked like a third of the scanner's main thread);
// BENCH_REDIS_URL=redis://127.0.0.1:6390 for a Redis of the run's own, whose CPU per sample then counts this
// run alone: the Redis CPU shown is the whole server's, neighbours' commands included)
//
// The scanner's CPU is also split by thread: its main thread (BullMQ, ioredis, pg, the analyzers, our own
// code), the libuv pool (the YARA scans, which is what the baseline measures) and V8's helper threads
// (concurrent garbage collection and compiling).
import { spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';

import { submitMultipart } from './multipart.js';
import { QueueName } from '#contracts';
import { createObjectStore } from '#storage';
import { TestService, pollUntil, query } from '#test-support';
import { DEFAULT_RULESET_PATH, type ExternalValue, loadRules, yaraVersion } from '#yara';
import { EICAR, KiB, SHARED_RULESETS, generatedRuleset, peFile, prng, textBlock } from './corpus.js';
import { median, processCpuMs, threadCpuMs } from './measure.js';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 10_000);
const SIZE = 4 * KiB;
const THREADS = Number(process.env.BENCH_THREADS ?? 2);
/** Scans handed to the pool beyond THREADS, on both sides (the scanner's SCAN_PREFETCH, default THREADS). */
const PREFETCH = Number(process.env.BENCH_SCAN_PREFETCH ?? THREADS);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const RULESET = process.env.BENCH_RULESET ?? join(SHARED_RULESETS, 'signature-base-534.yar');
/** When set, the API and the scanner write V8 CPU profiles (.cpuprofile) into this folder at exit. */
const PROFILE_DIR = process.env.BENCH_CPU_PROF;
const NODE_OPTIONS = [
  ...(PROFILE_DIR === undefined ? [] : [`--cpu-prof --cpu-prof-dir=${PROFILE_DIR}`]),
  ...(process.env.BENCH_NODE_OPTIONS === undefined ? [] : [process.env.BENCH_NODE_OPTIONS]),
].join(' ');
const UPLOADS_IN_FLIGHT = 16;
const POLL_MS = 50;
const SCAN_TIMEOUT_MS = 60_000;
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** CPU ms per sample of the scanner's main thread, its libuv pool and V8's helper threads between two readings. */
function threadSplit(before: Map<string, number>, after: Map<string, number>): string {
  const perSample = (name: string): string =>
    (((after.get(name) ?? 0) - (before.get(name) ?? 0)) / SAMPLES).toFixed(2);
  return `main ${perSample('MainThread')}, pool ${perSample('libuv-worker')}, V8 helpers ${perSample('V8Worker')}`;
}

/** Busy and total CPU time of the whole machine so far (/proc/stat), to show how loaded it was. */
async function machineCpu(): Promise<{ busy: number; total: number }> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  const total = ticks.reduce((a, b) => a + b, 0);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  return { busy: total - idle, total };
}

/** CPU seconds the Redis server has used so far (INFO cpu: its main thread and the others, user + system). */
async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string): number => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1]);
  return field('used_cpu_user') + field('used_cpu_sys');
}

const busyShare = (before: { busy: number; total: number }, after: { busy: number; total: number }): string =>
  `${((100 * (after.busy - before.busy)) / Math.max(1, after.total - before.total)).toFixed(0)}%`;

/** One 4 KiB sample: text, random, PE-like or EICAR-bearing; its last bytes make it unique. */
function sample(random: () => number, round: number, index: number): Buffer {
  const roll = random();
  let data: Buffer;
  if (roll < 0.4) data = textBlock(random, SIZE);
  else if (roll < 0.65) data = randomFillSync(Buffer.alloc(SIZE));
  else if (roll < 0.9) data = peFile(random, SIZE, random() < 0.25);
  else {
    data = textBlock(random, SIZE);
    data.write(EICAR, Math.floor(random() * (SIZE - 2 * EICAR.length)));
  }
  data.write(`#${round}-${index}#`.padStart(16, ' '), SIZE - 16, 'latin1');
  return data;
}

const agent = new Agent({ keepAlive: true, maxSockets: UPLOADS_IN_FLIGHT });

/** A multipart submission (metadata part, then the file) over a kept-alive connection. */
async function submit(baseUrl: string, token: string, bytes: Buffer): Promise<void> {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const metadata = { kind: 'file', sha256, size: bytes.length };
  const { status } = await submitMultipart({
    baseUrl,
    token,
    metadata,
    file: bytes,
    size: bytes.length,
    agent,
  });
  if (status !== 201) throw new Error(`upload answered ${status}, expected 201 (a new sample)`);
}

/** Submits a round's samples; returns the seconds it took and their sha256s. */
async function ingest(
  service: TestService,
  token: string,
  round: number,
): Promise<{ seconds: number; sha256s: string[] }> {
  const random = prng(0xe2e0 + round);
  const samples = Array.from({ length: SAMPLES }, (_, i) => sample(random, round, i));
  const sha256s = samples.map((b) => createHash('sha256').update(b).digest('hex'));
  const start = process.hrtime.bigint();
  let next = 0;
  await Promise.all(
    Array.from({ length: UPLOADS_IN_FLIGHT }, async () => {
      for (let i = next++; i < samples.length; i = next++) {
        const bytes = samples[i];
        if (bytes !== undefined) await submit(service.baseUrl, token, bytes);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  // The connections would sit idle through the scans: the API closes such a connection after 5 s, as the
  // next round may send on it, and that upload failed with 'socket hang up'. The next round opens new ones.
  agent.destroy();
  return { seconds, sha256s };
}

interface Baseline {
  seconds: number;
  matches: number;
  cpuSeconds: number;
}

interface Input {
  path: string;
  externals: Record<string, ExternalValue>;
}

/** The raw baseline, in a child process whose libuv pool has THREADS threads. */
function runBaseline(compiled: string, inputs: string): Promise<Baseline> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', compiled, inputs], {
      env: { ...process.env, UV_THREADPOOL_SIZE: String(THREADS) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolvePromise(JSON.parse(output) as Baseline)
        : reject(new Error(`baseline child exited with ${code}`)),
    );
  });
}

async function child(compiled: string, inputsFile: string): Promise<void> {
  const inputs = JSON.parse(await readFile(inputsFile, 'utf8')) as Input[];
  const rules = loadRules(compiled);
  let next = 0;
  let matches = 0;
  const start = process.hrtime.bigint();
  const cpuBefore = process.cpuUsage();
  await Promise.all(
    // As many scans in flight as the scanner hands the pool: a thread that finishes starts the next at once.
    Array.from({ length: THREADS + PREFETCH }, async () => {
      for (let i = next++; i < inputs.length; i = next++) {
        const input = inputs[i];
        if (input === undefined) break;
        const result = await rules.scanFile(input.path, {
          timeoutMs: SCAN_TIMEOUT_MS,
          externals: input.externals,
        });
        matches += result.matches.length;
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  process.stdout.write(JSON.stringify({ seconds, matches, cpuSeconds: (cpu.user + cpu.system) / 1e6 }));
  rules.destroy();
}

async function rulesetSource(): Promise<{ name: string; source: string }> {
  const builtIn = await readFile(DEFAULT_RULESET_PATH, 'utf8');
  if (RULESET === 'default') return { name: 'default.yar', source: builtIn };
  if (!existsSync(RULESET))
    return { name: 'generated (400 rules) + default.yar', source: `${generatedRuleset()}\n${builtIn}` };
  return { name: `${RULESET} + default.yar`, source: `${await readFile(RULESET, 'utf8')}\n${builtIn}` };
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'specimen-e2e-bench-'));
  const cacheDir = join(work, 'rules-cache');
  const service = new TestService({
    scanner: false,
    env: {
      LOG_LEVEL: 'warn',
      REDIS_URL,
      SCAN_CONCURRENCY: String(THREADS),
      SCAN_PREFETCH: String(PREFETCH),
      SCANNER_THREADS: String(THREADS),
      ...(process.env.BENCH_JOBS_IN_FLIGHT === undefined
        ? {}
        : { SCAN_JOBS_IN_FLIGHT: process.env.BENCH_JOBS_IN_FLIGHT }),
      SCAN_TIMEOUT_MS: String(SCAN_TIMEOUT_MS),
      RULES_CACHE_DIR: cacheDir,
      // The whole batch waits in the paused queue: no back-pressure, no per-agent limit for the load client.
      SCAN_BACKLOG_MAX: String(SAMPLES * (REPEAT + 1)),
      RATE_LIMIT_PER_MINUTE: String(SAMPLES * (REPEAT + 1) * 10),
      ...(NODE_OPTIONS === '' ? {} : { NODE_OPTIONS }),
    },
  });
  await service.start();
  const queue = new Queue(QueueName.Scan, {
    connection: { url: REDIS_URL },
    prefix: service.queuePrefix,
  });
  const redis = new Redis(REDIS_URL);
  const db = new pg.Client({ connectionString: service.databaseUrl });
  await db.connect();
  try {
    const { name, source } = await rulesetSource();
    const created = await service.request('/v1/rulesets', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'bench', source }),
    });
    if (created.status !== 201) throw new Error(`ruleset: ${created.status} ${await created.text()}`);
    const ruleset = (await created.json()) as { id: string; ruleCount: number };
    const activated = await service.request(`/v1/rulesets/${ruleset.id}/activate`, { method: 'POST' });
    if (activated.status !== 200) throw new Error(`activate: ${activated.status} ${await activated.text()}`);
    const token = await service.token('agent');
    const store = await createObjectStore(service.storageUrl);

    console.log(
      `scan e2e: ${SAMPLES} samples of ${SIZE} bytes per round, ${THREADS} threads, ${REPEAT} rounds (median shown)\n` +
        `rules: ${name} (${ruleset.ruleCount} rules); libyara ${yaraVersion()}\n`,
    );

    const e2e: number[] = [];
    const raw: number[] = [];
    const ingestRates: number[] = [];
    let matches = { e2e: 0, raw: 0 };
    // Round 0 is a warm-up (JIT, connection pools, page cache), not counted.
    for (let round = 0; round <= REPEAT; round++) {
      await queue.pause();
      const { seconds: ingestSeconds, sha256s } = await ingest(service, token, round);
      if (service.scanner === null) {
        service.startScanner();
        // Up means: its worker is connected to the scan queue and it has compiled (and cached) the rules.
        await pollUntil(
          async () =>
            (await queue.getWorkersCount()) > 0 &&
            existsSync(cacheDir) &&
            readdirSync(cacheDir).some((f) => f.endsWith('.rules'))
              ? true
              : undefined,
          { timeoutMs: 120_000, what: 'the scanner worker and its compiled rules' },
        );
      }
      // The database's own CPU: the backends serving this service's database. The scanner's pool may open
      // new connections during the round (after idling through the ingest): those count from their start.
      const backendCpu = async (): Promise<Map<number, number>> => {
        const { rows } = await db.query<{ pid: number }>(
          'select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
        );
        const cpu = rows.map((r) => processCpuMs(r.pid) / 1000);
        return new Map(rows.map((r, i) => [r.pid, cpu[i] ?? NaN]));
      };
      const postgresBefore = await backendCpu();
      const cpuBefore = processCpuMs(service.scanner?.pid) / 1000;
      const threadsBefore = threadCpuMs(service.scanner?.pid);
      const redisBefore = await redisCpuSeconds(redis);
      const machineBefore = await machineCpu();
      const start = process.hrtime.bigint();
      await queue.resume();
      // The scanner completes a job once its scan's transaction has committed, so the scan queue's count of
      // finished jobs (a ZCARD each in Redis) says when every verdict of the round is in PostgreSQL.
      // Rounds never share a sample: the count of every round so far says when this one is done. Counting
      // the samples table instead cost PostgreSQL 17 ms of CPU a poll at 40,000 samples, a third of a core
      // at 20 polls a second taken from the scanner on the same 2 cores; it runs only every 2 s now, for
      // runs longer than the 100,000 completed jobs the queue keeps, and once when the queue says done.
      const scanned = async (): Promise<boolean> => {
        const { rows } = await db.query<{ n: string }>(
          "select count(*) as n from samples where scan_status <> 'pending'",
        );
        return Number(rows[0]?.n) >= (round + 1) * SAMPLES;
      };
      let polls = 0;
      await pollUntil(
        async () => {
          const { completed = 0, failed = 0 } = await queue.getJobCounts('completed', 'failed');
          if (completed + failed >= (round + 1) * SAMPLES) return true;
          return ++polls % 40 === 0 && (await scanned()) ? true : undefined;
        },
        { timeoutMs: 30 * 60_000, intervalMs: POLL_MS, what: `verdicts for round ${round}` },
      );
      const e2eSeconds = Number(process.hrtime.bigint() - start) / 1e9;
      if (!(await scanned())) {
        throw new Error(`the scan queue finished round ${round}, but not every sample has a verdict`);
      }
      const scannerCpu = processCpuMs(service.scanner?.pid) / 1000 - cpuBefore;
      const threads = threadSplit(threadsBefore, threadCpuMs(service.scanner?.pid));
      const redisCpu = (await redisCpuSeconds(redis)) - redisBefore;
      // Backends that closed during the round are left out (their CPU is lost: an undercount).
      const databaseCpu = [...(await backendCpu())]
        .map(([pid, after]) => after - (postgresBefore.get(pid) ?? 0))
        .filter((delta) => Number.isFinite(delta))
        .reduce((a, b) => a + b, 0);
      const machineDuring = busyShare(machineBefore, await machineCpu());

      const rows = await query<{
        object_key: string;
        file_type: string | null;
        size: string;
        status: string;
        n: string;
      }>(
        service.databaseUrl,
        `select s.object_key, s.file_type, s.size, s.scan_status as status,
                (select count(*) from matches m where m.scan_id = s.latest_scan_id) as n
           from samples s where s.sha256 = any($1) order by s.sha256`,
        [sha256s],
      );
      const failed = rows.filter((r) => r.status === 'failed').length;
      if (failed > 0) throw new Error(`${failed} scans failed:\n${service.output()}`);
      const inputs: Input[] = rows.map((r) => ({
        path: store.localPath(r.object_key) ?? '',
        externals: { kind: 'file', file_type: r.file_type ?? 'unknown', size: Number(r.size) },
      }));
      const inputsFile = join(work, 'inputs.json');
      await writeFile(inputsFile, JSON.stringify(inputs));
      const compiled = readdirSync(cacheDir).find((f) => f.endsWith('.rules')) ?? '';
      const machineBeforeBaseline = await machineCpu();
      const baseline = await runBaseline(join(cacheDir, compiled), inputsFile);
      const machineDuringBaseline = busyShare(machineBeforeBaseline, await machineCpu());
      console.log(
        `round ${round}${round === 0 ? ' (warm-up)' : ''}: ingest ${(SAMPLES / ingestSeconds).toFixed(0)} samples/s; ` +
          `scanner ${(SAMPLES / e2eSeconds).toFixed(0)} samples/s (CPU ms/sample: scanner ${((scannerCpu * 1000) / SAMPLES).toFixed(2)} [${threads}], PostgreSQL ${((databaseCpu * 1000) / SAMPLES).toFixed(2)}, Redis ${((redisCpu * 1000) / SAMPLES).toFixed(2)}; machine ${machineDuring} busy); ` +
          `raw libs/yara ${(SAMPLES / baseline.seconds).toFixed(0)} samples/s (CPU ${((baseline.cpuSeconds * 1000) / SAMPLES).toFixed(2)} ms/sample, machine ${machineDuringBaseline} busy)`,
      );
      if (round === 0) continue;
      e2e.push(e2eSeconds);
      raw.push(baseline.seconds);
      ingestRates.push(SAMPLES / ingestSeconds);
      matches = { e2e: rows.reduce((sum, r) => sum + Number(r.n), 0), raw: baseline.matches };
    }

    const e2eRate = SAMPLES / median(e2e);
    const rawRate = SAMPLES / median(raw);
    console.log('');
    console.table([
      {
        threads: THREADS,
        'scanner samples/s': Number(e2eRate.toFixed(1)),
        'raw libs/yara samples/s': Number(rawRate.toFixed(1)),
        'ratio scanner/raw': Number((e2eRate / rawRate).toFixed(3)),
        'scanner matches': matches.e2e,
        'raw matches': matches.raw,
      },
    ]);
    console.log(`(ingest through the API, not timed above: ${median(ingestRates).toFixed(0)} samples/s)`);
    const ratio = e2eRate / rawRate;
    console.log(`goal ratio >= 0.5: ${ratio >= 0.5 ? 'met' : 'NOT met'} (${ratio.toFixed(3)})`);
  } finally {
    agent.destroy();
    await db.end();
    await queue.close();
    redis.disconnect();
    await service.stop();
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') await child(process.argv[3] ?? '', process.argv[4] ?? '');
else await main();
