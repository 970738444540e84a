// Audit commit benchmark: the download's audit record, written the way the API writes it (group-committed
// through a Batcher into AuditRepository.appendMany) against one INSERT per record (AuditRepository.append),
// with BENCH_WRITERS downloads at once, each waiting for its own record to commit, as a download does
// before its first byte. Prints records per second, the wait per record (median and p90) and this
// process's CPU per record, each the median of BENCH_REPEATS interleaved rounds. PostgreSQL's own CPU is
// not counted, and it runs on the same shared machine.
// Run: npm run bench:audit-commit   (BENCH_RECORDS=400 per round, BENCH_WRITERS=1,4,16, BENCH_REPEATS=3)
import { randomBytes } from 'node:crypto';
import {
  type AuditEntry,
  AuditRepository,
  Batcher,
  Database,
  ensureDatabase,
  runMigrations,
} from '#database';
import { dropDatabase } from '#test-support';
import { median } from './measure.js';

const RECORDS = Number(process.env.BENCH_RECORDS ?? 400);
const WRITERS = (process.env.BENCH_WRITERS ?? '1,4,16').split(',').map(Number);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
/** As many records as the API commits together at most. */
const MAX_BATCH = 64;

interface Round {
  perSecond: number;
  waitMs: number;
  waitP90Ms: number;
  cpuMs: number;
}

const entry = (): AuditEntry => ({
  actorId: null,
  actorName: 'bench',
  action: 'sample.download',
  targetType: 'sample',
  targetId: randomBytes(32).toString('hex'),
  details: { size: 1_048_576, role: 'analyst' },
});

async function round(write: (e: AuditEntry) => Promise<unknown>, writers: number): Promise<Round> {
  const waits: number[] = [];
  let started = 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (started++ < RECORDS) {
        const t = performance.now();
        await write(entry());
        waits.push(performance.now() - t);
      }
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  waits.sort((a, b) => a - b);
  return {
    perSecond: RECORDS / ((performance.now() - t0) / 1000),
    waitMs: median(waits),
    waitP90Ms: waits[Math.floor(waits.length * 0.9)] ?? NaN,
    cpuMs: (cpu.user + cpu.system) / 1000 / RECORDS,
  };
}

const show = (name: string, writers: number, rounds: Round[]): string =>
  `${name.padEnd(9)} | ${String(writers).padStart(7)} | ${median(rounds.map((r) => r.perSecond))
    .toFixed(0)
    .padStart(9)} | ${median(rounds.map((r) => r.waitMs))
    .toFixed(2)
    .padStart(9)} | ${median(rounds.map((r) => r.waitP90Ms))
    .toFixed(2)
    .padStart(8)} | ${median(rounds.map((r) => r.cpuMs)).toFixed(3)}`;

async function main(): Promise<void> {
  const url = `postgres://postgres@127.0.0.1:5432/specimen_bench_audit_${randomBytes(5).toString('hex')}`;
  await ensureDatabase(url);
  await runMigrations(url);
  const database = await Database.connect({ url, poolMax: 10, migrate: false });
  try {
    const audit = new AuditRepository(database);
    const batcher = new Batcher((entries: AuditEntry[]) => audit.appendMany(entries), MAX_BATCH);
    const ways = {
      single: (e: AuditEntry) => audit.append(e),
      grouped: (e: AuditEntry) => batcher.submit(e),
    };
    console.log(`audit commit benchmark: ${RECORDS} records a round, median of ${REPEATS} rounds`);
    console.log('');
    console.log('records   | writers | records/s |   wait ms |   p90 ms | client CPU ms/record');
    for (const writers of WRITERS) {
      // Warm-up: connections, statements.
      for (const write of Object.values(ways)) await round(write, writers);
      const rounds = { single: [] as Round[], grouped: [] as Round[] };
      for (let r = 0; r < REPEATS; r++) {
        rounds.single.push(await round(ways.single, writers));
        rounds.grouped.push(await round(ways.grouped, writers));
      }
      console.log(show('single', writers, rounds.single));
      console.log(show('grouped', writers, rounds.grouped));
    }
  } finally {
    await database.close();
    await dropDatabase(url);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
