// Resumable-upload benchmark: one 1 GiB sample sent over tus 1.0.0 (`/v1/uploads`, 8 MiB PATCHes, by the
// project's own uploader, libs/client uploadResumable, as the agent CLI sends it) against the same bytes
// through the multipart `POST /v1/submissions`, in the same run, on the same service. Each side is timed
// from its first request until the 2xx that reports the queued submission (the last PATCH for tus, the
// 201 for multipart). Prints MB/s and the ratio tus / multipart (goal ≥ 0.8).
//
// Fairness: both sides stream from the same file on disk (page cache warm after the first read) over
// loopback to the same API process with the fs storage driver; neither buffers the whole sample. Every
// run sends a different sample (a 64-byte unique prefix, then the file), so every run is a new sample
// with the full promotion and scan-job path, never a duplicate; the sha256 that the metadata declares is
// computed before the clock starts, for both sides. The tus side pays what the protocol costs: the
// creation request, one request per chunk, the sha256 of every chunk for `Upload-Checksum` (client and
// server), and the server's assembly of the parts into one object at the end. Sides alternate (tus first
// in even rounds, multipart first in odd ones) after an untimed warm-up of each; the median of BENCH_REPEATS
// is shown.
// Run: npm run bench:resumable   (BENCH_MIB=256 for a shorter run, BENCH_CHUNK_MIB=8, BENCH_REPEATS=3;
// BENCH_API_FLAGS='--trace-gc' puts node/V8 flags on the API's command line, its output then goes to stderr)
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { submitMultipart } from './multipart.js';
import { nodeFetch } from '#client-node';
import { SpecimenClient, uploadResumable } from '#client';
import { TestService } from '#test-support';
import { randomFile } from './corpus.js';
import { median, processCpuMs, timed } from './measure.js';

const MiB = 1024 * 1024;
const SIZE_MIB = Number(process.env.BENCH_MIB ?? 1024);
const CHUNK_MIB = Number(process.env.BENCH_CHUNK_MIB ?? 8);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const PREFIX = 64;
const API_FLAGS = (process.env.BENCH_API_FLAGS ?? '').split(' ').filter((f) => f !== '');

const bigFile = (): Promise<string> => randomFile(SIZE_MIB);

/** A sample of its own: a unique prefix, then the file. */
interface Sample {
  prefix: Buffer;
  path: string;
  size: number;
  sha256: string;
}

async function sample(path: string): Promise<Sample> {
  const prefix = randomBytes(PREFIX);
  const hash = createHash('sha256').update(prefix);
  await pipeline(createReadStream(path), hash);
  return { prefix, path, size: PREFIX + SIZE_MIB * MiB, sha256: hash.digest('hex') };
}

const body = (s: Sample): Readable =>
  Readable.from(
    (async function* () {
      yield s.prefix;
      yield* createReadStream(s.path);
    })(),
  );

/** The multipart path, streamed with a known length as an agent would send it. */
async function multipart(baseUrl: string, token: string, s: Sample): Promise<void> {
  const metadata = { kind: 'file', sha256: s.sha256, size: s.size };
  const { status, body: text } = await submitMultipart({
    baseUrl,
    token,
    metadata,
    file: () => body(s),
    size: s.size,
  });
  if (status !== 201 || (JSON.parse(text) as { duplicate: boolean }).duplicate) {
    throw new Error(`multipart: ${status} ${text}`);
  }
}

/** The tus path through libs/client, reading each chunk at its offset as the agent's file source does. */
async function resumable(client: SpecimenClient, s: Sample): Promise<void> {
  const handle = await open(s.path, 'r');
  const progress: Array<[number, number]> = [];
  const start = performance.now();
  try {
    const result = await uploadResumable(client, {
      metadata: { kind: 'file', sha256: s.sha256, size: s.size },
      chunkSize: CHUNK_MIB * MiB,
      onProgress: (sent) => {
        if (sent > 0) progress.push([sent, performance.now()]);
      },
      source: {
        size: s.size,
        async read(offset, length) {
          const out = Buffer.allocUnsafe(length);
          let at = 0;
          if (offset < PREFIX) at = s.prefix.copy(out, 0, offset, Math.min(PREFIX, offset + length));
          while (at < length) {
            const { bytesRead } = await handle.read(out, at, length - at, offset + at - PREFIX);
            if (bytesRead === 0) throw new Error('short read');
            at += bytesRead;
          }
          return out;
        },
      },
    });
    if (result.submission.duplicate || result.submission.sha256 !== s.sha256) {
      throw new Error(`tus: unexpected result ${JSON.stringify(result.submission)}`);
    }
    // Where the time went: the chunks before the last, and the last PATCH (its bytes plus the assembly).
    const beforeLast = progress.at(-2)?.[1] ?? start;
    lastSplit = { chunksMs: beforeLast - start, lastMs: performance.now() - beforeLast };
  } finally {
    await handle.close();
  }
}
let lastSplit = { chunksMs: 0, lastMs: 0 };

async function main(): Promise<void> {
  console.log(
    `resumable benchmark: ${SIZE_MIB} MiB, tus in ${CHUNK_MIB} MiB chunks (libs/client) vs multipart, ` +
      `${REPEATS} rounds`,
  );
  const path = await bigFile();
  const service = new TestService({
    scanner: false,
    apiFlags: API_FLAGS,
    env: { UPLOAD_MAX_BYTES: String((SIZE_MIB + 1) * MiB), LOG_LEVEL: 'warn' },
  });
  await service.start();
  try {
    const token = await service.token('agent');
    const client = new SpecimenClient({
      baseUrl: service.baseUrl,
      token,
      retry: { attempts: 1 },
      fetch: process.env.BENCH_FETCH === 'global' ? fetch : nodeFetch,
    });
    const sides = {
      tus: { run: (s: Sample) => resumable(client, s), ms: [] as number[], cpu: [] as number[] },
      multipart: {
        run: (s: Sample) => multipart(service.baseUrl, token, s),
        ms: [] as number[],
        cpu: [] as number[],
      },
    };
    // Warm-up: a small sample each (JIT, pools, folders), untimed.
    const warm = async (run: (s: Sample) => Promise<void>) => {
      const prefix = randomBytes(PREFIX);
      const sha256 = createHash('sha256').update(prefix).digest('hex');
      await run({ prefix, path: '/dev/null', size: PREFIX, sha256 });
    };
    await warm(sides.tus.run);
    await warm(sides.multipart.run);
    for (let r = 0; r < REPEATS; r++) {
      const order = r % 2 === 0 ? (['tus', 'multipart'] as const) : (['multipart', 'tus'] as const);
      for (const name of order) {
        const s = await sample(path);
        const cpuBefore = processCpuMs(service.api?.pid);
        const ms = await timed(() => sides[name].run(s));
        const cpu = processCpuMs(service.api?.pid) - cpuBefore;
        sides[name].ms.push(ms);
        sides[name].cpu.push(cpu);
        const split =
          name === 'tus'
            ? ` (chunks before the last ${(lastSplit.chunksMs / 1000).toFixed(2)} s, last PATCH with assembly ` +
              `${(lastSplit.lastMs / 1000).toFixed(2)} s)`
            : '';
        console.log(
          `round ${r + 1}: ${name.padEnd(9)} ${(ms / 1000).toFixed(2)} s, API CPU ${(cpu / 1000).toFixed(2)} s${split}`,
        );
      }
    }
    const mbps = (ms: number) => (PREFIX + SIZE_MIB * MiB) / MiB / (ms / 1000);
    const tus = median(sides.tus.ms);
    const mp = median(sides.multipart.ms);
    console.log('');
    console.log('path                           | seconds |  MB/s | / multipart');
    console.log(
      `multipart POST /v1/submissions | ${(mp / 1000).toFixed(2).padStart(7)} | ${mbps(mp).toFixed(1).padStart(5)} | 1.00`,
    );
    console.log(
      `tus /v1/uploads, ${String(CHUNK_MIB).padStart(2)} MiB chunks   | ${(tus / 1000).toFixed(2).padStart(7)} | ${mbps(
        tus,
      )
        .toFixed(1)
        .padStart(5)} | ${(mp / tus).toFixed(2)}`,
    );
    console.log(`ratio tus / multipart (throughput): ${(mp / tus).toFixed(2)} (goal ≥ 0.80)`);
    // CPU of the API process (all its threads, hashing included): wall time on a shared machine is noisy.
    const patches = Math.ceil((PREFIX + SIZE_MIB * MiB) / (CHUNK_MIB * MiB));
    const tusCpu = median(sides.tus.cpu);
    console.log(
      `API CPU: tus ${(tusCpu / 1000).toFixed(2)} s (${(tusCpu / patches).toFixed(1)} ms per PATCH of ` +
        `${CHUNK_MIB} MiB, ${patches} PATCHes), multipart ${(median(sides.multipart.cpu) / 1000).toFixed(2)} s`,
    );
  } finally {
    await service.stop();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
