// Thread-pool stall benchmark: do parallel resumable uploads slow the API's other thread-pool users down?
// A tus PATCH on the fs driver writes its chunk through libuv's thread pool and starts an fdatasync every
// 2 MiB (apps/api/src/uploads/stream-file.ts); the pool (4 threads unless UV_THREADPOOL_SIZE says more)
// is shared with the file reads and PBKDF2 of downloads, the temporary files of multipart submissions and
// dns. This runs N = 0, 2, 4, 8 uploads of BENCH_MIB MiB each at once (libs/client uploadResumable in 8 MiB
// chunks, in a worker thread so their hashing does not delay the probes' clocks) against one API, and
// meanwhile, one after another in this thread, four probes: `GET /health/live` (no pool: the API's event
// loop and the machine's CPU alone), the encrypted-ZIP download of a small stored sample (open, reads,
// PBKDF2, audit row), a small multipart submission (temporary file, write, fsync, rename, rows) and, outside
// the API, a one-row INSERT committed by PostgreSQL (the disk's flush latency). Prints each probe's p50/p95
// per N and the ratio of its p95 to N = 0 (the baseline), the API's CPU by thread name per N and its pool's
// thread count. Whether a rise is the pool: run it again with BENCH_API_ENV='UV_THREADPOOL_SIZE=16' (runs
// alternated); a pool stall is what 16 threads take away. Health rising as well is the 2 shared cores.
// Run: npm run bench:tus-pool   (BENCH_MIB=256, BENCH_CHUNK_MIB=8, BENCH_NS=0,2,4,8, BENCH_BASE_SECONDS=10
// for N = 0, BENCH_API_ENV='UV_THREADPOOL_SIZE=16' for the API's environment, BENCH_VERBOSE=1 prints the
// time each N starts, to line up with a probe preloaded into the API by BENCH_API_ENV='NODE_OPTIONS=--import=…')
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import pg from 'pg';
import { nodeFetch } from '#client-node';
import { SpecimenClient, uploadResumable } from '#client';
import { TestService } from '#test-support';
import { randomFile } from './corpus.js';
import { threadCpuMs } from './measure.js';
import { submitMultipart } from './multipart.js';

const MiB = 1024 * 1024;
const SIZE_MIB = Number(process.env.BENCH_MIB ?? 256);
const CHUNK_MIB = Number(process.env.BENCH_CHUNK_MIB ?? 8);
const NS = (process.env.BENCH_NS ?? '0,2,4,8').split(',').map(Number);
const BASE_SECONDS = Number(process.env.BENCH_BASE_SECONDS ?? 10);
const API_ENV = Object.fromEntries(
  (process.env.BENCH_API_ENV ?? '')
    .split(' ')
    .filter((kv) => kv.includes('='))
    .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
);
const SUFFIX = 64;
const SMALL = 64 * 1024;

interface UploadJob {
  baseUrl: string;
  token: string;
  path: string;
  n: number;
}

/**
 * The worker: `n` resumable uploads of the big file at once, each a sample of its own (the file, then a
 * unique suffix). Posts `started` once the file is hashed, then the milliseconds the uploads took.
 */
async function uploads({ baseUrl, token, path, n }: UploadJob): Promise<number> {
  const client = new SpecimenClient({ baseUrl, token, retry: { attempts: 1 }, fetch: nodeFetch });
  const handle = await open(path, 'r');
  const fileSize = SIZE_MIB * MiB;
  try {
    const fileHash = createHash('sha256');
    for await (const piece of handle.createReadStream({ start: 0, autoClose: false })) {
      fileHash.update(piece as Buffer);
    }
    parentPort?.postMessage({ started: true });
    const started = performance.now();
    await Promise.all(
      Array.from({ length: n }, async () => {
        const suffix = randomBytes(SUFFIX);
        const size = fileSize + SUFFIX;
        const result = await uploadResumable(client, {
          metadata: { kind: 'file', sha256: fileHash.copy().update(suffix).digest('hex'), size },
          chunkSize: CHUNK_MIB * MiB,
          source: {
            size,
            async read(offset, length) {
              const out = Buffer.allocUnsafe(length);
              let at = 0;
              while (at < length && offset + at < fileSize) {
                const want = Math.min(length - at, fileSize - offset - at);
                const { bytesRead } = await handle.read(out, at, want, offset + at);
                if (bytesRead === 0) throw new Error('short read');
                at += bytesRead;
              }
              if (at < length) suffix.copy(out, at, offset + at - fileSize);
              return out;
            },
          },
        });
        if (result.submission.duplicate) throw new Error('tus: a duplicate');
      }),
    );
    return performance.now() - started;
  } finally {
    await handle.close();
  }
}

if (!isMainThread) {
  uploads(workerData as UploadJob).then(
    (ms) => parentPort?.postMessage({ ms }),
    (e: unknown) => parentPort?.postMessage({ error: String(e) }),
  );
}

const bigFile = (): Promise<string> => randomFile(SIZE_MIB);

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? NaN;
}

/** Milliseconds of one GET until its body is drained; rejects on anything but `status`. */
function get(url: string, agent: Agent, token: string | null, status = 200): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(url, {
      agent,
      headers: token === null ? {} : { authorization: `Bearer ${token}` },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () =>
        res.statusCode === status
          ? resolve(performance.now() - started)
          : reject(new Error(`GET ${url}: ${res.statusCode}`)),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

async function submitSmall(baseUrl: string, token: string, agent: Agent): Promise<number> {
  const file = randomBytes(SMALL);
  const sha256 = createHash('sha256').update(file).digest('hex');
  const started = performance.now();
  await submitMultipart({
    baseUrl,
    token,
    agent,
    file,
    size: SMALL,
    metadata: { kind: 'file', sha256, size: SMALL },
  });
  return performance.now() - started;
}

type Probe = 'health' | 'download' | 'multipart' | 'pg commit';
const PROBES: Probe[] = ['health', 'download', 'multipart', 'pg commit'];

async function main(): Promise<void> {
  const poolNote = API_ENV.UV_THREADPOOL_SIZE ?? '4 (default)';
  console.log(
    `thread-pool stall benchmark: N × ${SIZE_MIB} MiB tus uploads (${CHUNK_MIB} MiB chunks) at once, probes ` +
      `meanwhile, N = ${NS.join(', ')}; API thread pool ${poolNote}`,
  );
  const path = await bigFile();
  const service = new TestService({
    scanner: false,
    env: {
      UPLOAD_MAX_BYTES: String((SIZE_MIB + 1) * MiB),
      LOG_LEVEL: 'warn',
      RATE_LIMIT_PER_MINUTE: '1000000',
    },
    apiEnv: API_ENV,
  });
  await service.start();
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const [uploader, prober, analyst] = await Promise.all([
      service.token('agent'),
      service.token('agent'),
      service.token('analyst'),
    ]);
    // The sample the downloads read: a small one, stored through the multipart path.
    const stored = randomBytes(SMALL);
    const storedSha = createHash('sha256').update(stored).digest('hex');
    await submitMultipart({
      baseUrl: service.baseUrl,
      token: prober,
      file: stored,
      size: SMALL,
      metadata: { kind: 'file', sha256: storedSha, size: SMALL },
    });
    // Outside the API: a one-row INSERT committed by PostgreSQL (WAL flush) on a connection of this thread.
    const pgClient = new pg.Client({ connectionString: service.databaseUrl });
    await pgClient.connect();
    await pgClient.query('create table bench_probe (at timestamptz not null default now())');
    const commit = async () => {
      const started = performance.now();
      await pgClient.query('insert into bench_probe default values');
      return performance.now() - started;
    };
    const probe: Record<Probe, () => Promise<number>> = {
      health: () => get(`${service.baseUrl}/health/live`, agent, null),
      download: () => get(`${service.baseUrl}/v1/samples/${storedSha}/download`, agent, analyst),
      multipart: () => submitSmall(service.baseUrl, prober, agent),
      'pg commit': commit,
    };
    // Warm-up: JIT, connections, folders.
    for (let i = 0; i < 20; i++) for (const p of PROBES) await probe[p]();

    const rows: Array<{ n: number; seconds: number; times: Record<Probe, number[]> }> = [];
    for (const n of NS) {
      if (process.env.BENCH_VERBOSE === '1')
        console.log(`${new Date().toISOString().slice(11, 19)} N = ${n} starts`);
      const times: Record<Probe, number[]> = { health: [], download: [], multipart: [], 'pg commit': [] };
      let done = false;
      let uploadMs = 0;
      const cpuBefore = threadCpuMs(service.api?.pid);
      let uploading: () => void = () => undefined;
      const begun = new Promise<void>((resolve) => (uploading = resolve));
      const finished =
        n === 0
          ? new Promise<void>((resolve) =>
              setTimeout(() => {
                uploadMs = BASE_SECONDS * 1000;
                resolve();
              }, BASE_SECONDS * 1000),
            )
          : new Promise<void>((resolve, reject) => {
              const worker = new Worker(new URL(import.meta.url), {
                workerData: { baseUrl: service.baseUrl, token: uploader, path, n } satisfies UploadJob,
              });
              worker.on('message', (m: { started?: true; ms?: number; error?: string }) => {
                if (m.started === true) uploading();
                else if (m.error !== undefined) reject(new Error(m.error));
                else {
                  uploadMs = m.ms ?? NaN;
                  resolve();
                }
              });
              worker.once('error', reject);
            });
      const probing = (async () => {
        // From the uploads' first request on (the worker hashes the file first).
        if (n > 0) await begun;
        while (!done) for (const p of PROBES) if (!done) times[p].push(await probe[p]());
      })();
      await finished.finally(() => {
        done = true;
        uploading();
      });
      await probing;
      const cpu = [...threadCpuMs(service.api?.pid)]
        .map(([name, ms]) => [name, (ms - (cpuBefore.get(name) ?? 0)) / (uploadMs / 1000) / 10] as const)
        .filter(([, pct]) => pct >= 1)
        .sort((a, b) => b[1] - a[1])
        .map(([name, pct]) => `${name} ${pct.toFixed(0)}%`)
        .join(', ');
      rows.push({ n, seconds: uploadMs / 1000, times });
      const mbps = n === 0 ? '' : `, ${((n * SIZE_MIB) / (uploadMs / 1000)).toFixed(0)} MB/s of tus in all`;
      console.log(
        `N = ${n}: ${(uploadMs / 1000).toFixed(1)} s${mbps}, ${times.health.length} probe rounds; API CPU by thread (of one core): ${cpu}`,
      );
    }

    // The pool as it runs (it starts all its threads on first use): did UV_THREADPOOL_SIZE take effect?
    const pid = service.api?.pid;
    const poolThreads = readdirSync(`/proc/${pid}/task`).filter((tid) => {
      try {
        return readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim() === 'libuv-worker';
      } catch {
        return false;
      }
    }).length;
    console.log(`API libuv thread-pool threads: ${poolThreads}`);
    const base = rows.find((r) => r.n === 0);
    console.log('');
    console.log('N | probe     | count |  p50 ms |  p95 ms | p95 / N=0');
    for (const row of rows) {
      for (const p of PROBES) {
        const p95 = percentile(row.times[p], 95);
        const ratio = base === undefined ? NaN : p95 / percentile(base.times[p], 95);
        console.log(
          `${String(row.n).padStart(1)} | ${p.padEnd(9)} | ${String(row.times[p].length).padStart(5)} | ` +
            `${percentile(row.times[p], 50).toFixed(1).padStart(7)} | ${p95.toFixed(1).padStart(7)} | ${ratio.toFixed(2)}`,
        );
      }
    }
    await pgClient.end();
  } finally {
    agent.destroy();
    await service.stop();
  }
}

if (isMainThread) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
