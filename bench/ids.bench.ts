// Row ids benchmark: the cost to PostgreSQL of inserting submission rows (as lookup sightings and uploads
// write them) numbered with random version 4 UUIDs, as before migration 0023, against time-ordered version 7
// UUIDs (libs/database/src/uuid7.ts), into a submissions table that already holds BENCH_ROWS rows with
// random ids. A random id writes a random leaf of the primary key per insert, and the first write of a page
// after a checkpoint logs the whole page (a full-page image); a time-ordered id writes the right edge.
//
// Each round runs, for each kind of id in turn: CHECKPOINT, then BENCH_BATCHES statements of BENCH_BATCH rows
// ("after a checkpoint": the worst case, every page is written for the first time in the cycle), then the
// same again without a checkpoint ("same cycle": pages already logged once). Prints, per row, the
// backend's CPU (from /proc), the WAL bytes and full-page images (pg_stat_wal, the whole server's: run it
// on a quiet machine), and the ratio v7 / v4; median of BENCH_REPEATS rounds, kinds alternated.
// The database (BENCH_DATABASE, `specimen_bench_ids`) is kept and reused while its shape is the same.
// Run: npm run bench:ids   (BENCH_ROWS=500000 for a faster seed; BENCH_REPEATS=3, BENCH_BATCHES=40,
// BENCH_BATCH=500)
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { ensureDatabase, runMigrations, uuidV7 } from '#database';
import { median, processCpuMs } from './measure.js';

const ROWS = Number(process.env.BENCH_ROWS ?? 2_000_000);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 200_000);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const BATCHES = Number(process.env.BENCH_BATCHES ?? 40);
const BATCH = Number(process.env.BENCH_BATCH ?? 500);
const DATABASE = process.env.BENCH_DATABASE ?? 'specimen_bench_ids';
const URL = `postgres://postgres@127.0.0.1:5432/${DATABASE}`;
const SHAPE = `ids1:${ROWS}:${SAMPLES}`;

const INSERT = `insert into submissions
    (id, sample_sha256, kind, metadata, submitter, country, product_version, status, source, received_at)
  select i.id, s.sha256, 'file', '{}'::jsonb, 'bench-agent', null, '1.0', 'queued', 'lookup', now()
  from unnest($1::uuid[], $2::int[]) as i(id, n)
  join lateral (select sha256 from bench_sample_list where n = i.n) s on true`;

interface Figures {
  cpuUs: number;
  walBytes: number;
  fpi: number;
}

async function seed(client: pg.Client): Promise<void> {
  await client.query(`create table if not exists bench_shape (shape text not null)`);
  const { rows } = await client.query<{ shape: string }>('select shape from bench_shape');
  if (rows[0]?.shape === SHAPE) return;
  const started = Date.now();
  console.log(`seeding ${SAMPLES} samples and ${ROWS} submissions into ${DATABASE}`);
  await client.query('truncate submissions, samples cascade');
  await client.query('drop table if exists bench_sample_list');
  await client.query(
    `insert into samples (sha256, sha1, md5, size, kind, object_key)
     select encode(sha256(('s' || i)::bytea), 'hex'), left(encode(sha256(('1' || i)::bytea), 'hex'), 40),
            md5('m' || i), 4096, 'file', 'k' || i
     from generate_series(1, ${SAMPLES}) i`,
  );
  await client.query(
    `create table bench_sample_list as select row_number() over () - 1 as n, sha256 from samples`,
  );
  await client.query('create unique index on bench_sample_list (n)');
  await client.query(
    `insert into submissions (id, sample_sha256, kind, metadata, submitter, status, source, received_at)
     select gen_random_uuid(), l.sha256, 'file', '{}'::jsonb, 'seed', 'queued', 'lookup',
            now() - (i % 86400) * interval '1 second'
     from generate_series(1, ${ROWS}) i join bench_sample_list l on l.n = i % ${SAMPLES}`,
  );
  await client.query('vacuum analyze submissions');
  await client.query('vacuum analyze bench_sample_list');
  await client.query('delete from bench_shape');
  await client.query('insert into bench_shape values ($1)', [SHAPE]);
  console.log(`seeded in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

async function walNow(client: pg.Client): Promise<{ bytes: number; fpi: number }> {
  const { rows } = await client.query<{ wal_bytes: string; wal_fpi: string }>(
    'select wal_bytes::text, wal_fpi::text from pg_stat_wal',
  );
  return { bytes: Number(rows[0]?.wal_bytes), fpi: Number(rows[0]?.wal_fpi) };
}

async function insertRows(client: pg.Client, pid: number, makeId: () => string): Promise<Figures> {
  const batches = Array.from({ length: BATCHES }, () => {
    const ids = Array.from({ length: BATCH }, makeId);
    const picks = Array.from({ length: BATCH }, () => Math.floor(Math.random() * SAMPLES));
    return [ids, picks];
  });
  const wal0 = await walNow(client);
  const cpu0 = processCpuMs(pid);
  for (const values of batches) await client.query(INSERT, values);
  const cpu1 = processCpuMs(pid);
  const wal1 = await walNow(client);
  const rows = BATCHES * BATCH;
  return {
    cpuUs: ((cpu1 - cpu0) * 1000) / rows,
    walBytes: (wal1.bytes - wal0.bytes) / rows,
    fpi: (wal1.fpi - wal0.fpi) / rows,
  };
}

async function main(): Promise<void> {
  await ensureDatabase(URL);
  await runMigrations(URL);
  const client = new pg.Client({ connectionString: URL });
  await client.connect();
  try {
    await seed(client);
    const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
    const pid = rows[0]?.pid as number;
    const kinds = { v4: () => randomUUID(), v7: () => uuidV7() } as const;
    const results: Record<string, { after: Figures[]; same: Figures[] }> = {
      v4: { after: [], same: [] },
      v7: { after: [], same: [] },
    };
    // A warm-up of each kind (caches, plans), not counted.
    for (const make of Object.values(kinds)) await insertRows(client, pid, make);
    for (let round = 0; round < REPEATS; round++) {
      const order = round % 2 === 0 ? (['v4', 'v7'] as const) : (['v7', 'v4'] as const);
      for (const kind of order) {
        await client.query('checkpoint');
        const after = await insertRows(client, pid, kinds[kind]);
        const same = await insertRows(client, pid, kinds[kind]);
        results[kind]?.after.push(after);
        results[kind]?.same.push(same);
        console.log(
          `round ${round + 1} ${kind}: after a checkpoint ${after.cpuUs.toFixed(1)} µs CPU, ${after.walBytes.toFixed(0)} B WAL, ${after.fpi.toFixed(2)} FPI a row; same cycle ${same.cpuUs.toFixed(1)} µs, ${same.walBytes.toFixed(0)} B, ${same.fpi.toFixed(2)}`,
        );
      }
    }
    const m = (kind: 'v4' | 'v7', when: 'after' | 'same', f: keyof Figures) =>
      median((results[kind]?.[when] ?? []).map((r) => r[f]));
    console.log(
      `\n${BATCHES} × ${BATCH} submission rows per measure into ${ROWS.toLocaleString('en')} rows, median of ${REPEATS}`,
    );
    const table = (['after', 'same'] as const).flatMap((when) =>
      (['v4', 'v7'] as const).map((kind) => ({
        when: when === 'after' ? 'after a checkpoint' : 'same cycle',
        ids: kind,
        'PG CPU µs/row': Number(m(kind, when, 'cpuUs').toFixed(1)),
        'WAL bytes/row': Math.round(m(kind, when, 'walBytes')),
        'full-page images/row': Number(m(kind, when, 'fpi').toFixed(2)),
        'CPU v7/v4':
          kind === 'v7' ? Number((m('v7', when, 'cpuUs') / m('v4', when, 'cpuUs')).toFixed(2)) : '',
        'WAL v7/v4':
          kind === 'v7' ? Number((m('v7', when, 'walBytes') / m('v4', when, 'walBytes')).toFixed(2)) : '',
      })),
    );
    console.table(table);
    await client.query(`delete from submissions where submitter = 'bench-agent'`);
  } finally {
    await client.end();
  }
}

await main();
