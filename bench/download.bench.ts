// Download benchmark: the encrypted ZIP download (GET /v1/samples/:sha256/download, AES-256, from the real
// API over HTTP, with its audit record and database lookup) against reading the raw object from the same
// store directly (ObjectStore.get drained in this process), in the same run, for the fs and S3 drivers.
// Prints MB/s of sample bytes for both and the ratio ZIP / raw (goal ≥ 0.5), plus the ZIP writer alone in
// this process (the object piped through encryptedZip as the API does it, no HTTP) to show where the time goes.
// Fairness: both paths read the same objects after a warm-up read of each (page cache or s3rver warm), the
// raw and ZIP runs interleave, and each figure is the median of the repeats. The client runs on the same
// 2-core machine as the API, so it takes CPU from it. The small objects are read with the same
// parallelism on both paths. With the fs driver the API reads the file itself into its reused chunk buffers (see
// ZipSource in apps/api/src/samples/encrypted-zip.ts), while the raw baseline is the store's own stream.
// Run: npm run bench:download   (BENCH_BIG_MIB=64 BENCH_SMALL_COUNT=16 for a shorter run, BENCH_DRIVERS=fs for
// one driver, BENCH_REPEATS=5 runs each, median shown, BENCH_PARALLEL=4 concurrent small downloads,
// BENCH_API_NODE_OPTIONS='--cpu-prof --cpu-prof-dir=/tmp/prof' to profile the API, BENCH_API_FLAGS='--trace-gc'
// for flags NODE_OPTIONS refuses, put on the API's command line). "API CPU ms/MiB" is the API process's CPU time
// over the timed ZIP runs per MiB of sample bytes: steadier than MB/s on a busy machine. With --trace-gc in
// BENCH_API_FLAGS the note also gives the API's full (mark-compact) collections per timed ZIP run.
import { createHash, randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
// The writer alone, to tell its cost from HTTP's: a benchmark may look inside the app it measures.
// eslint-disable-next-line no-restricted-imports
import { encryptedZip } from '../apps/api/src/samples/encrypted-zip.js';
import { type ObjectStore, createObjectStore, sampleKey } from '#storage';
import { TestService, query, startS3Server } from '#test-support';
import { mbps, median, peakRssMb, processCpuMs, timed } from './measure.js';

const MiB = 1024 * 1024;
const BIG_MIB = Number(process.env.BENCH_BIG_MIB ?? 256);
const SMALL_COUNT = Number(process.env.BENCH_SMALL_COUNT ?? 64);
const PARALLEL = Number(process.env.BENCH_PARALLEL ?? 4);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const DRIVERS = (process.env.BENCH_DRIVERS ?? 'fs,s3').split(',') as Array<'fs' | 's3'>;
const API_NODE_OPTIONS = process.env.BENCH_API_NODE_OPTIONS;
const API_FLAGS = (process.env.BENCH_API_FLAGS ?? '').split(' ').filter((f) => f !== '');

interface Sample {
  sha256: string;
  size: number;
}

/** Counts and drops what it is given, handing each chunk to `release` once counted. */
function counter(release?: (chunk: Buffer) => void): { sink: Writable; bytes: () => number } {
  let n = 0;
  return {
    sink: new Writable({
      highWaterMark: MiB,
      write(chunk: Buffer, _encoding, callback) {
        n += chunk.length;
        release?.(chunk);
        callback();
      },
    }),
    bytes: () => n,
  };
}

/** Runs `jobs` with at most `parallel` at once. */
async function inParallel<T>(items: T[], parallel: number, job: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, items.length) }, async () => {
      while (next < items.length) {
        const item = items[next++];
        if (item !== undefined) await job(item);
      }
    }),
  );
}

/** Stores `count` random objects of `size` bytes as samples: objects through the store, rows through SQL. */
async function seed(
  service: TestService,
  store: ObjectStore,
  count: number,
  size: number,
): Promise<Sample[]> {
  const samples: Sample[] = [];
  for (let i = 0; i < count; i++) {
    const hash = createHash('sha256');
    let left = size;
    // Random bytes, so nothing along the way can shortcut the work by compressing.
    const body = Readable.from(
      (function* () {
        while (left > 0) {
          const block = randomBytes(Math.min(left, MiB));
          left -= block.length;
          hash.update(block);
          yield block;
        }
      })(),
    );
    const tmp = `bench/seed-${randomBytes(6).toString('hex')}`;
    await store.put(tmp, body, { size });
    const sha256 = hash.digest('hex');
    await store.promote(tmp, sampleKey(sha256));
    await query(
      service.databaseUrl,
      `insert into samples (sha256, sha1, md5, size, kind, object_key) values ($1, $2, $3, $4, 'file', $5)`,
      [sha256, sha256.slice(0, 40), sha256.slice(0, 32), size, sampleKey(sha256)],
    );
    samples.push({ sha256, size });
  }
  return samples;
}

async function readRaw(store: ObjectStore, sample: Sample): Promise<void> {
  const { sink, bytes } = counter();
  await pipeline(await store.get(sampleKey(sample.sha256)), sink);
  if (bytes() !== sample.size) throw new Error(`raw read gave ${bytes()} bytes, not ${sample.size}`);
}

async function zipInProcess(store: ObjectStore, sample: Sample): Promise<void> {
  // The source the API picks: the file itself when the store keeps it locally, else the store's stream.
  const path = store.localPath(sampleKey(sample.sha256));
  const source = path === null ? await store.get(sampleKey(sample.sha256)) : await open(path, 'r');
  const zip = encryptedZip({ name: sample.sha256, size: sample.size }, source, 'infected');
  // Chunks go back to the archive once used, as the API's route gives them back after each socket write.
  const { sink, bytes } = counter((chunk) => zip.release(chunk));
  await pipeline(zip, sink);
  if (bytes() <= sample.size) throw new Error(`the archive has only ${bytes()} bytes`);
}

/** Milliseconds from each download's request to its response headers (auth, lookup, audit, key derivation). */
const firstByteMs: number[] = [];

function download(service: TestService, agent: Agent, token: string, sample: Sample): Promise<void> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = request(new URL(`/v1/samples/${sample.sha256}/download`, service.baseUrl), {
      agent,
      headers: { authorization: `Bearer ${token}` },
    });
    req.on('response', (res) => {
      firstByteMs.push(Number(process.hrtime.bigint() - started) / 1e6);
      if (res.statusCode !== 200 || res.headers['content-type'] !== 'application/zip') {
        res.resume();
        reject(new Error(`download answered ${res.statusCode} ${res.headers['content-type']}`));
        return;
      }
      const { sink, bytes } = counter();
      pipeline(res, sink).then(() => {
        // The archive is the sample plus 28 bytes of AES framing and some headers, as long as announced.
        const announced = Number(res.headers['content-length']);
        if (bytes() < sample.size + 28 || bytes() !== announced) {
          reject(new Error(`the archive has ${bytes()} bytes, ${announced} announced`));
        } else resolve();
      }, reject);
    });
    req.on('error', reject);
    req.end();
  });
}

interface Row {
  driver: string;
  case: string;
  rawMBps: number;
  zipMBps: number;
  writerMBps: number;
  /** API process CPU (user + system) per MiB of sample bytes over the timed ZIP runs. */
  apiCpuMsPerMiB: number;
  note: string;
}

async function benchDriver(driver: 'fs' | 's3'): Promise<Row[]> {
  const s3 = driver === 's3' ? await startS3Server() : null;
  const service = new TestService({
    scanner: false,
    ...(s3 === null ? {} : { storageUrl: s3.url }),
    env: { LOG_LEVEL: 'warn', RATE_LIMIT_PER_MINUTE: '1000000' },
    // e.g. --cpu-prof --cpu-prof-dir=/tmp/prof, to see where the API's CPU goes.
    ...(API_NODE_OPTIONS === undefined ? {} : { apiEnv: { NODE_OPTIONS: API_NODE_OPTIONS } }),
    apiFlags: API_FLAGS,
  });
  await service.start();
  // --trace-gc prints a line per collection on the API's stdout.
  let fullGcs = 0;
  let partial = '';
  service.api?.stdout?.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line.includes('Mark-Compact')) fullGcs++;
  });
  const store = await createObjectStore(service.storageUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: PARALLEL });
  try {
    const analyst = await service.token('analyst');
    const smalls = await seed(service, store, SMALL_COUNT, MiB);
    const [big] = await seed(service, store, 1, BIG_MIB * MiB);
    if (big === undefined) throw new Error('no big sample');
    const pid = service.api?.pid ?? 0;

    const cases: Array<{
      name: string;
      bytes: number;
      run: (read: (s: Sample) => Promise<void>) => Promise<void>;
    }> = [
      {
        name: `${SMALL_COUNT} × 1 MiB, ${PARALLEL} at once`,
        bytes: SMALL_COUNT * MiB,
        run: (read) => inParallel(smalls, PARALLEL, read),
      },
      { name: `1 × ${BIG_MIB} MiB`, bytes: big.size, run: (read) => read(big) },
    ];
    const paths = {
      raw: (s: Sample) => readRaw(store, s),
      zip: (s: Sample) => download(service, agent, analyst, s),
      writer: (s: Sample) => zipInProcess(store, s),
    };
    // Warm-up (JIT, page cache, connections, folders), not timed.
    for (const c of cases) for (const read of Object.values(paths)) await c.run(read);

    const rssBefore = peakRssMb(pid);
    const rows: Row[] = [];
    for (const c of cases) {
      const times = { raw: [] as number[], zip: [] as number[], writer: [] as number[] };
      firstByteMs.length = 0;
      let apiCpuMs = 0;
      let zipFullGcs = 0;
      for (let r = 0; r < REPEATS; r++) {
        times.raw.push(await timed(() => c.run(paths.raw)));
        const cpuBefore = processCpuMs(pid);
        const gcsBefore = fullGcs;
        times.zip.push(await timed(() => c.run(paths.zip)));
        apiCpuMs += processCpuMs(pid) - cpuBefore;
        zipFullGcs += fullGcs - gcsBefore;
        times.writer.push(await timed(() => c.run(paths.writer)));
      }
      rows.push({
        driver,
        case: c.name,
        rawMBps: mbps(c.bytes, median(times.raw)),
        zipMBps: mbps(c.bytes, median(times.zip)),
        writerMBps: mbps(c.bytes, median(times.writer)),
        apiCpuMsPerMiB: apiCpuMs / REPEATS / (c.bytes / MiB),
        note:
          `median time to the response headers ${median(firstByteMs).toFixed(1)} ms` +
          (API_FLAGS.includes('--trace-gc')
            ? `; API full GCs per run ${(zipFullGcs / REPEATS).toFixed(1)}`
            : ''),
      });
    }
    const last = rows[rows.length - 1];
    if (last !== undefined) {
      last.note += `; API peak RSS ${peakRssMb(pid).toFixed(0)} MB (${rssBefore.toFixed(0)} MB before the timed runs)`;
    }
    return rows;
  } finally {
    agent.destroy();
    await service.stop();
    await s3?.close();
  }
}

async function main(): Promise<void> {
  console.log(
    `download benchmark: ${SMALL_COUNT} × 1 MiB and 1 × ${BIG_MIB} MiB; AES-256 ZIP over HTTP from the API vs ObjectStore.get, median of ${REPEATS}`,
  );
  const rows: Row[] = [];
  for (const driver of DRIVERS) rows.push(...(await benchDriver(driver)));
  console.log('');
  console.log(
    'driver | case                     | raw MB/s | ZIP MB/s | ZIP/raw | writer alone MB/s | API CPU ms/MiB | note',
  );
  for (const r of rows) {
    console.log(
      `${r.driver.padEnd(6)} | ${r.case.padEnd(24)} | ${r.rawMBps.toFixed(1).padStart(8)} | ${r.zipMBps
        .toFixed(1)
        .padStart(
          8,
        )} | ${(r.zipMBps / r.rawMBps).toFixed(2).padStart(7)} | ${r.writerMBps.toFixed(1).padStart(17)} | ${r.apiCpuMsPerMiB.toFixed(2).padStart(14)} | ${r.note}`,
    );
  }
  console.log(
    'goal: ZIP/raw ≥ 0.50 (MB/s of sample bytes; "writer alone" is the object → encryptedZip in this process, no HTTP)',
  );
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
