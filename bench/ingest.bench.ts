// Ingest benchmark: one 1 GiB upload and 200 parallel 1 MiB uploads through the API, against writing the
// same bytes through the same storage driver directly, in the same run, for the fs and S3 drivers.
// Prints MB/s, the ratio API / direct (goal ≥ 0.7) and the API's peak RSS during the 1 GiB upload
// (goal ≤ 200 MB). Run: npm run bench:ingest   (BENCH_BIG_MIB=256 for a shorter run, BENCH_DRIVERS=fs for one driver, BENCH_REPEATS=3 runs each,
// median shown, BENCH_SMALL_COUNT=200 uploads per small batch; BENCH_NODE_OPTIONS is added to the API's node flags,
// e.g. --perf-basic-prof for perf record). The small-upload row also shows the API's CPU per upload split by thread
// (main, the hashing thread, the libuv pool, V8 helpers), all API batches together: CPU, unlike wall time, holds up
// on a busy machine.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { projectRoot } from '#config';
import { submitMultipart } from './multipart.js';
import { createObjectStore, type ObjectStore } from '#storage';
import { TestService, startS3Server } from '#test-support';
import { mbps, median, peakRssMb, resetPeakRss, rssMb, threadCpuMs, timed } from './measure.js';

const MiB = 1024 * 1024;
const BIG_MIB = Number(process.env.BENCH_BIG_MIB ?? 1024);
const SMALL_COUNT = Number(process.env.BENCH_SMALL_COUNT ?? 200);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const DRIVERS = (process.env.BENCH_DRIVERS ?? 'fs,s3').split(',') as Array<'fs' | 's3'>;

/** Node's thread names (/proc comm): the event loop, the hashing thread (a worker_threads Worker), the rest. */
const THREADS = [
  ['main', 'MainThread'],
  ['hash', 'WorkerThread'],
  ['pool', 'libuv-worker'],
  ['V8', 'V8Worker'],
] as const;

/** CPU ms per upload by thread between two {@link threadCpuMs} readings, e.g. "18.1 (main 14.2, hash 3.3, …)". */
function cpuPerUpload(before: Map<string, number>, after: Map<string, number>, uploads: number): string {
  const delta = (name: string) => ((after.get(name) ?? 0) - (before.get(name) ?? 0)) / uploads;
  let total = 0;
  for (const name of after.keys()) total += delta(name);
  const parts = THREADS.map(([label, name]) => `${label} ${delta(name).toFixed(1)}`);
  return `${total.toFixed(1)} (${parts.join(', ')})`;
}

async function bigFile(): Promise<{ path: string; sha256: string; size: number }> {
  const dir = join(projectRoot(), 'bench', '.data');
  const path = join(dir, `ingest-${BIG_MIB}m.bin`);
  if (!existsSync(path) || statSync(path).size !== BIG_MIB * MiB) {
    const { mkdir } = await import('node:fs/promises');
    await mkdir(dir, { recursive: true });
    // Random bytes so nothing along the way (storage, TCP) can shortcut the work by compressing.
    let left = BIG_MIB;
    await pipeline(
      Readable.from(
        (function* () {
          while (left-- > 0) yield randomBytes(MiB);
        })(),
      ),
      createWriteStream(path),
    );
  }
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return { path, sha256: hash.digest('hex'), size: BIG_MIB * MiB };
}

/** Streams one upload through the API; resolves with the answer's status. */
async function upload(
  baseUrl: string,
  token: string,
  metadata: Record<string, unknown>,
  body: () => Readable,
  size: number,
): Promise<number> {
  return (await submitMultipart({ baseUrl, token, metadata, file: body, size })).status;
}

interface Row {
  driver: string;
  case: string;
  directMBps: number;
  apiMBps: number;
  ratio: number;
  note: string;
}

async function benchDriver(
  driver: 'fs' | 's3',
  big: { path: string; sha256: string; size: number },
): Promise<Row[]> {
  const s3 = driver === 's3' ? await startS3Server() : null;
  const service = new TestService({
    scanner: false,
    ...(s3 === null ? {} : { storageUrl: s3.url }),
    env: {
      UPLOAD_MAX_BYTES: String(big.size + MiB),
      LOG_LEVEL: 'warn',
      ...(process.env.BENCH_NODE_OPTIONS === undefined
        ? {}
        : { NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS }),
    },
  });
  await service.start();
  const store: ObjectStore = await createObjectStore(service.storageUrl);
  try {
    const agent = await service.token('agent');
    const rows: Row[] = [];

    const pid = service.api?.pid ?? 0;
    const uploadSmalls = (smalls: Buffer[]) =>
      Promise.all(
        smalls.map((b) =>
          upload(
            service.baseUrl,
            agent,
            { kind: 'file', sha256: createHash('sha256').update(b).digest('hex'), size: b.length },
            () => Readable.from([b]),
            b.length,
          ),
        ),
      );
    const putSmalls = (smalls: Buffer[]) =>
      Promise.all(
        smalls.map((b, i) =>
          store.put(`bench/small-${i}-${randomBytes(4).toString('hex')}`, Readable.from([b])),
        ),
      );
    // Warm-up (JIT, connection pools, folders) for both paths, not timed.
    const warm = Array.from({ length: 20 }, () => randomBytes(MiB));
    await putSmalls(warm);
    await uploadSmalls(warm);

    // Repeats interleave direct and API runs and report the median, since this 2-core machine is noisy.
    // The big file is the same sample each time: after the first run the API drops its copy as a duplicate.
    const big1: number[] = [];
    const big2: number[] = [];
    const small1: number[] = [];
    const small2: number[] = [];
    // The goal is the peak during the big uploads: the warm-up's own peak (20 parallel uploads) is reported
    // beside it, then the peak restarts from the RSS the big uploads start with.
    const warmUpPeak = peakRssMb(pid);
    const rssAtStart = rssMb(pid);
    resetPeakRss(pid);
    for (let r = 0; r < REPEATS; r++) {
      big1.push(await timed(() => store.put(`bench/direct-${r}`, createReadStream(big.path))));
      big2.push(
        await timed(() =>
          upload(
            service.baseUrl,
            agent,
            { kind: 'file', sha256: big.sha256, size: big.size },
            () => createReadStream(big.path),
            big.size,
          ),
        ),
      );
    }
    const rssPeak = peakRssMb(pid);
    const apiThreads = new Map<string, number>();
    for (let r = 0; r < REPEATS; r++) {
      const smalls = Array.from({ length: SMALL_COUNT }, () => randomBytes(MiB));
      small1.push(await timed(() => putSmalls(smalls)));
      const before = threadCpuMs(pid);
      small2.push(await timed(() => uploadSmalls(smalls)));
      for (const [name, ms] of threadCpuMs(pid)) {
        apiThreads.set(name, (apiThreads.get(name) ?? 0) + ms - (before.get(name) ?? 0));
      }
    }
    const directBig = median(big1);
    const apiBig = median(big2);
    const directSmall = median(small1);
    const apiSmall = median(small2);
    rows.push({
      driver,
      case: `1 × ${BIG_MIB} MiB`,
      directMBps: mbps(big.size, directBig),
      apiMBps: mbps(big.size, apiBig),
      ratio: directBig / apiBig,
      note: `API peak RSS ${rssPeak.toFixed(0)} MB (${rssAtStart.toFixed(0)} at the start; warm-up peak ${warmUpPeak.toFixed(0)})`,
    });
    rows.push({
      driver,
      case: `${SMALL_COUNT} × 1 MiB parallel`,
      directMBps: mbps(SMALL_COUNT * MiB, directSmall),
      apiMBps: mbps(SMALL_COUNT * MiB, apiSmall),
      ratio: directSmall / apiSmall,
      note: `${(SMALL_COUNT / (apiSmall / 1000)).toFixed(0)} uploads/s through the API; API CPU ms/upload ${cpuPerUpload(
        new Map(),
        apiThreads,
        REPEATS * SMALL_COUNT,
      )}`,
    });
    return rows;
  } finally {
    await service.stop();
    await s3?.close();
  }
}

async function main(): Promise<void> {
  console.log(
    `ingest benchmark: ${BIG_MIB} MiB file, ${SMALL_COUNT} × 1 MiB; API with hashing + verification + DB + queue vs driver.put`,
  );
  const big = await bigFile();
  const rows: Row[] = [];
  for (const driver of DRIVERS) rows.push(...(await benchDriver(driver, big)));
  console.log('');
  console.log('driver | case                  | direct MB/s | API MB/s | API/direct | note');
  for (const r of rows) {
    console.log(
      `${r.driver.padEnd(6)} | ${r.case.padEnd(21)} | ${r.directMBps.toFixed(1).padStart(11)} | ${r.apiMBps
        .toFixed(1)
        .padStart(8)} | ${r.ratio.toFixed(2).padStart(10)} | ${r.note}`,
    );
  }
  console.log(
    'goal: API/direct ≥ 0.70 for both cases and drivers; API peak RSS ≤ 200 MB during the big upload',
  );
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
