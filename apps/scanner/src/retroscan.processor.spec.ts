import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Queue, Worker, UnrecoverableError } from 'bullmq';
import { loadConfig } from '#config';
import { JobName, QueueName, type RetroscanCheckJob } from '#contracts';
import type {
  CoveredSample,
  RetrohuntsRepository,
  RetroscanRecord,
  RetroscansRepository,
  RulesetsRepository,
} from '#database';
import { QueueProducer, RedisCircuit, retroscanCheckJobId, retroscanKey, scanJobId } from '#queue';
import { dropRedisPrefix } from '#test-support';
import { RETROSCAN_PRIORITY, RetroscanProcessor } from './retroscan.processor.js';

/**
 * The `retroscans` table in memory, as the repository behaves; `covered` stands for the samples a check
 * finds (in sha256 order) and whether each has its scan.
 */
function retroscanRows(covered: CoveredSample[] = []) {
  const rows = new Map<string, RetroscanRecord>();
  const looked: (string | null)[] = [];
  const repository = {
    find: (key: string) => Promise.resolve(rows.get(key) ?? null),
    create: (input: { key: string; rulesetId: string; until: Date; rule?: string; cursor?: string }) => {
      if (!rows.has(input.key)) {
        rows.set(input.key, {
          key: input.key,
          rulesetId: input.rulesetId,
          until: input.until,
          rule: input.rule ?? null,
          rulesAsOf: null,
          cursor: input.cursor ?? null,
          status: 'running',
          progressedAt: new Date(),
        });
      }
      return Promise.resolve();
    },
    advance: (
      key: string,
      batch: { from: string | null; to: string | null; rulesAsOf: Date; last: boolean },
    ) => {
      const row = rows.get(key);
      if (row === undefined || row.status !== 'running' || row.cursor !== batch.from) {
        return Promise.resolve(false);
      }
      row.cursor = batch.last ? null : batch.to;
      row.rulesAsOf ??= batch.rulesAsOf;
      if (batch.last) row.status = 'checking';
      return Promise.resolve(true);
    },
    checkBatch: (options: { after: string | null; limit: number }) => {
      looked.push(options.after);
      return Promise.resolve(
        covered.filter((c) => options.after === null || c.sha256 > options.after).slice(0, options.limit),
      );
    },
    checked: (key: string, step: { from: string | null; to: string | null; done: boolean }) => {
      const row = rows.get(key);
      if (row === undefined || row.status !== 'checking' || row.cursor !== step.from) {
        return Promise.resolve(false);
      }
      row.cursor = step.to;
      if (step.done) row.status = 'done';
      return Promise.resolve(true);
    },
    supersede: (key: string) => {
      const row = rows.get(key);
      if (row?.status === 'running' || row?.status === 'checking') row.status = 'superseded';
      return Promise.resolve();
    },
  } as unknown as RetroscansRepository;
  return { rows, repository, looked };
}

/** Stands for postponeJob: what the worker is told (the delay and the data it comes back with), and no job added. */
class Postponed extends Error {
  constructor(
    readonly delayMs: number,
    readonly data?: RetroscanCheckJob,
  ) {
    super(String(delayMs));
  }
}
const postpone = (delayMs: number, data?: RetroscanCheckJob): Promise<never> =>
  Promise.reject(new Postponed(delayMs, data));

/** The Postponed a promise rejects with. */
async function postponed(promise: Promise<unknown>): Promise<Postponed> {
  try {
    await promise;
  } catch (e) {
    if (e instanceof Postponed) return e;
    throw e;
  }
  assert.fail('not postponed');
}

/** RETROSCAN_CHECK_EVERY_MS in these processors. */
const CHECK_EVERY_MS = 7_000;

/**
 * A processor over fakes: `active` is the active version's id; what it queues is recorded. `covered` is what
 * its checks find; `states` the Redis states of scan jobs by id (`unknown` when absent).
 */
function processor(
  active: string | null,
  samples: string[],
  batchSize = 100,
  backlog = 0,
  check: { covered?: CoveredSample[]; states?: Record<string, string> } = {},
) {
  const added: string[] = [];
  const data: unknown[] = [];
  const options: unknown[] = [];
  const retrohunts = {
    samplesAfter: () => Promise.resolve(samples.map((sha256) => ({ sha256 }))),
  } as unknown as RetrohuntsRepository;
  const retroscans = retroscanRows(check.covered);
  const rulesets = {
    activeId: () => Promise.resolve({ id: active, at: new Date(NOW) }),
  } as unknown as RulesetsRepository;
  const states = check.states ?? {};
  const queue = {
    backlog: () => Promise.resolve(backlog),
    jobState: (_queue: QueueName, jobId: string) => Promise.resolve(states[jobId] ?? 'unknown'),
    add: (item: { data: unknown }, jobId: string, opts?: unknown) => {
      added.push(jobId);
      data.push(item.data);
      options.push(opts);
      return Promise.resolve();
    },
  } as unknown as QueueProducer;
  const config = loadConfig({
    SPECIMEN_ADMIN_TOKEN: 'x'.repeat(32),
    RETROHUNT_BATCH_SIZE: String(batchSize),
    RETROSCAN_CHECK_EVERY_MS: String(CHECK_EVERY_MS),
  });
  return {
    run: new RetroscanProcessor(config, retrohunts, rulesets, retroscans.repository, queue),
    added,
    data,
    options,
    rows: retroscans.rows,
    looked: retroscans.looked,
    retroscans: retroscans.repository,
  };
}

/** The database's clock as the fake repository reads it. */
const NOW = '2026-11-30T12:00:00.000Z';

describe('RetroscanProcessor', () => {
  const job = { rulesetId: 'r1', until: '2026-11-30T00:00:00.000Z' };

  it('queues a scan for each sample of the batch while its version is active', async () => {
    const { run, added } = processor('r1', ['a'.repeat(64), 'b'.repeat(64)]);
    assert.deepEqual(await run.handle(job, postpone), { queued: 2 });
    // The last batch (fewer samples than a batch): its check job comes after.
    assert.deepEqual(added, [
      `scan-${retroscanKey(job)}-${'a'.repeat(64)}`,
      `scan-${retroscanKey(job)}-${'b'.repeat(64)}`,
      retroscanCheckJobId(job),
    ]);
  });

  it("binds every scan, and the next batch's, to the database's clock after the change", async () => {
    const samples = ['a'.repeat(64), 'b'.repeat(64)];
    const first = processor('r1', samples, 2);
    await first.run.handle(job, postpone);
    assert.deepEqual(first.data, [
      { sha256: samples[0], rulesAsOf: NOW },
      { sha256: samples[1], rulesAsOf: NOW },
      { ...job, after: samples[1], rulesAsOf: NOW },
    ]);
    // A later batch keeps the first one's instant (scanners read the states once, not once per batch).
    const later = processor('r1', samples.slice(0, 1), 2);
    const earlier = '2026-11-30T11:00:00.000Z';
    await later.run.handle({ ...job, after: samples[1], rulesAsOf: earlier }, postpone);
    // It is the last one: its check counts only scans started at that instant or later.
    assert.deepEqual(later.data, [
      { sha256: samples[0], rulesAsOf: earlier },
      { ...job, rulesAsOf: earlier },
    ]);
  });

  it('stops once another version is active: that one covers the samples', async () => {
    const { run, added, rows, retroscans } = processor('r2', ['a'.repeat(64)]);
    // As the activation recorded it.
    await retroscans.create({ key: retroscanKey(job), rulesetId: 'r1', until: new Date(job.until) });
    assert.deepEqual(await run.handle(job, postpone), { queued: 0, superseded: true });
    assert.deepEqual(added, []);
    assert.equal(rows.get(retroscanKey(job))?.status, 'superseded');
  });

  it('records how far each batch got before it queues the next; the last one starts its check, not done', async () => {
    const samples = ['a'.repeat(64), 'b'.repeat(64)];
    const { run, added, rows } = processor('r1', samples, 2);
    await run.handle(job, postpone);
    assert.equal(added.at(-1), `${retroscanKey(job)}-${samples[1]}`);
    assert.deepEqual(
      { cursor: rows.get(retroscanKey(job))?.cursor, status: rows.get(retroscanKey(job))?.status },
      { cursor: samples[1], status: 'running' },
    );
    const last = processor('r1', [], 2);
    for (const [key, row] of rows) last.rows.set(key, row);
    assert.deepEqual(await last.run.handle({ ...job, after: samples[1], rulesAsOf: NOW }, postpone), {
      queued: 0,
    });
    // Every scan is queued, none need have run: the retro-scan checks them, from the start.
    assert.deepEqual(
      { cursor: last.rows.get(retroscanKey(job))?.cursor, status: last.rows.get(retroscanKey(job))?.status },
      { cursor: null, status: 'checking' },
    );
    assert.deepEqual(last.added, [`${retroscanKey(job)}-check`]);
    assert.equal(last.added[0], retroscanCheckJobId(job));
    assert.deepEqual(last.data, [{ ...job, rulesAsOf: NOW }]);
    assert.deepEqual(last.options, [{ delay: CHECK_EVERY_MS }]);
  });

  it('runs a batch already recorded once: a second run queues no scan, only the batch after the cursor', async () => {
    const samples = ['a'.repeat(64), 'b'.repeat(64)];
    const { run, added, data, rows } = processor('r1', samples, 2);
    await run.handle(job, postpone);
    added.length = 0;
    data.length = 0;
    // The first batch again (a replay, or the re-drive's while the first run was still under way).
    assert.deepEqual(await run.handle(job, postpone), { queued: 0, replay: true });
    assert.deepEqual(added, [`${retroscanKey(job)}-${samples[1]}`]);
    assert.deepEqual(data, [{ ...job, after: samples[1], rulesAsOf: NOW }]);
    assert.equal(rows.get(retroscanKey(job))?.cursor, samples[1]);
  });

  it('waits for the scan backlog as the same job, put back delayed, not as a job of another id', async () => {
    const { run, added } = processor('r1', ['a'.repeat(64)], 100, 1_000_000);
    await assert.rejects(run.handle(job, postpone), Postponed);
    assert.deepEqual(added, []);
  });
  describe('check', () => {
    const sha = (c: string) => c.repeat(64);
    const check: RetroscanCheckJob = { ...job, rulesAsOf: NOW };
    const key = retroscanKey(job);
    const scanId = (c: string) => scanJobId(sha(c), key);
    /** A processor whose retro-scan is checking from `cursor`. */
    const checking = (
      covered: CoveredSample[],
      options: {
        cursor?: string | null;
        states?: Record<string, string>;
        batchSize?: number;
        active?: string;
      } = {},
    ) => {
      const p = processor(options.active ?? 'r1', [], options.batchSize ?? 100, 0, {
        covered,
        ...(options.states === undefined ? {} : { states: options.states }),
      });
      p.rows.set(key, {
        key,
        rulesetId: 'r1',
        until: new Date(job.until),
        rule: null,
        rulesAsOf: new Date(NOW),
        cursor: options.cursor ?? null,
        status: 'checking',
        progressedAt: new Date(),
      });
      return p;
    };

    it('queues again, under the ids the batches gave them, only the scan jobs Redis lost', async () => {
      const covered = ['a', 'b', 'c', 'd', 'e'].map((c) => ({ sha256: sha(c), scanned: c === 'a' }));
      const { run, added, data, options, rows } = checking(covered, {
        // b still waits for a scanner, c runs; d and e were lost with Redis' data.
        states: { [scanId('b')]: 'prioritized', [scanId('c')]: 'active' },
      });
      const next = await postponed(run.check(check, postpone));
      assert.deepEqual(added, [scanId('d'), scanId('e')]);
      assert.deepEqual(data, [
        { sha256: sha('d'), rulesAsOf: NOW },
        { sha256: sha('e'), rulesAsOf: NOW },
      ]);
      assert.deepEqual(options, [{ priority: RETROSCAN_PRIORITY }, { priority: RETROSCAN_PRIORITY }]);
      // The frontier moves over a, which has its scan, and stops before b: not done. The next pass starts
      // there, once the scans had time to run.
      assert.deepEqual(
        { cursor: rows.get(key)?.cursor, status: rows.get(key)?.status },
        { cursor: sha('a'), status: 'checking' },
      );
      assert.deepEqual({ delayMs: next.delayMs, data: next.data }, { delayMs: CHECK_EVERY_MS, data: check });
    });

    it('counts a scan job completed or failed for good in Redis as run: a check that never ends is none', async () => {
      const covered = ['a', 'b', 'c'].map((c) => ({ sha256: sha(c), scanned: c === 'c' }));
      const { run, added, rows } = checking(covered, {
        states: { [scanId('a')]: 'completed', [scanId('b')]: 'failed' },
      });
      assert.deepEqual(await run.check(check, postpone), { looked: 3, requeued: 0, done: true });
      assert.deepEqual(added, []);
      assert.deepEqual(
        { cursor: rows.get(key)?.cursor, status: rows.get(key)?.status },
        { cursor: sha('c'), status: 'done' },
      );
    });

    it('ends done only when a pass from its frontier finds every covered sample with its scan', async () => {
      const covered = ['a', 'b', 'c', 'd', 'e'].map((c) => ({ sha256: sha(c), scanned: true }));
      const { run, rows, looked } = checking(covered, { batchSize: 2 });
      // Batch by batch (the job put back at once as itself), the frontier moving with each.
      let next = await postponed(run.check(check, postpone));
      assert.deepEqual({ delayMs: next.delayMs, data: next.data }, { delayMs: 0, data: check });
      assert.equal(rows.get(key)?.cursor, sha('b'));
      next = await postponed(run.check(next.data!, postpone));
      assert.equal(rows.get(key)?.cursor, sha('d'));
      assert.deepEqual(await run.check(next.data!, postpone), { looked: 1, requeued: 0, done: true });
      assert.deepEqual(looked, [null, sha('b'), sha('d')]);
      assert.deepEqual(
        { cursor: rows.get(key)?.cursor, status: rows.get(key)?.status },
        { cursor: sha('e'), status: 'done' },
      );
    });

    it('looks ahead past a sample still waiting for its scan, then checks again from the frontier', async () => {
      const covered = [
        { sha256: sha('a'), scanned: false },
        { sha256: sha('b'), scanned: true },
        { sha256: sha('c'), scanned: false },
      ];
      const { run, rows, added, looked } = checking(covered, {
        batchSize: 2,
        states: { [scanId('a')]: 'waiting' },
      });
      const ahead = await postponed(run.check(check, postpone));
      // The look-ahead goes on at once after b; the frontier stays where it was.
      assert.deepEqual(
        { delayMs: ahead.delayMs, data: ahead.data },
        { delayMs: 0, data: { ...check, after: sha('b') } },
      );
      assert.equal(rows.get(key)?.cursor, null);
      const pass = await postponed(run.check({ ...ahead.data!, requeued: 3 }, postpone));
      assert.deepEqual(added, [scanId('c')], 'the lost one further on, in the same pass');
      assert.deepEqual({ delayMs: pass.delayMs, data: pass.data }, { delayMs: CHECK_EVERY_MS, data: check });
      assert.equal(rows.get(key)?.status, 'checking');
      assert.deepEqual(looked, [null, sha('b')]);
    });

    it("carries the pass's count of jobs queued again to its end, and starts the next pass without it", async () => {
      const covered = ['a', 'b', 'c'].map((c) => ({ sha256: sha(c), scanned: false }));
      const { run, added } = checking(covered, { batchSize: 2 });
      const step = await postponed(run.check(check, postpone));
      assert.deepEqual(step.data, { ...check, after: sha('b'), requeued: 2 });
      const pass = await postponed(run.check(step.data, postpone));
      assert.deepEqual(pass.data, check);
      assert.deepEqual(added, [scanId('a'), scanId('b'), scanId('c')]);
    });

    it('goes on after a step another run recorded first, and stops once the retro-scan ended', async () => {
      const covered = [{ sha256: sha('a'), scanned: true }];
      const moved = checking(covered, { cursor: sha('a') });
      // A step whose look-ahead is behind the frontier starts at the frontier.
      assert.deepEqual(await moved.run.check({ ...check, after: sha('0') }, postpone), {
        looked: 0,
        requeued: 0,
        done: true,
      });
      assert.deepEqual(moved.looked, [sha('a')]);
      const ended = checking(covered);
      ended.rows.get(key)!.status = 'done';
      assert.deepEqual(await ended.run.check(check, postpone), { looked: 0, requeued: 0 });
      assert.deepEqual(ended.looked, []);
    });

    it('stops once another version is active, and waits for the scan backlog as itself', async () => {
      const covered = [{ sha256: sha('a'), scanned: false }];
      const superseded = checking(covered, { active: 'r2' });
      assert.deepEqual(await superseded.run.check(check, postpone), {
        looked: 0,
        requeued: 0,
        superseded: true,
      });
      assert.equal(superseded.rows.get(key)?.status, 'superseded');
      assert.deepEqual(superseded.added, []);
      const busy = processor('r1', [], 100, 1_000_000, { covered });
      busy.rows.set(key, { ...superseded.rows.get(key)!, status: 'checking' });
      const wait = await postponed(busy.run.check({ ...check, after: sha('0') }, postpone));
      assert.deepEqual(wait.data, { ...check, after: sha('0') });
      assert.deepEqual(busy.added, []);
      assert.deepEqual(busy.looked, []);
    });
  });
});

describe('RetroscanProcessor check (real Redis)', () => {
  const connection = { url: 'redis://127.0.0.1:6379', prefix: `t${randomBytes(6).toString('hex')}` };
  const circuit = RedisCircuit.forUrl(connection.url);
  const producer = new QueueProducer(connection, circuit);
  after(async () => {
    await producer.close();
    circuit.stop();
    await dropRedisPrefix(connection.url, connection.prefix);
  });

  it('adds back only what Redis lost: BullMQ keeps a job of the same id waiting, completed or failed', async () => {
    const job = { rulesetId: 'r1', until: '2026-11-30T00:00:00.000Z' };
    const key = retroscanKey(job);
    const [done, failed, waiting, lost] = ['a', 'b', 'c', 'd'].map((c) => c.repeat(64)) as [
      string,
      string,
      string,
      string,
    ];
    const scan = (sha256: string) =>
      producer.add(
        { queue: QueueName.Scan, name: JobName.ScanSample, data: { sha256, rulesAsOf: NOW } },
        scanJobId(sha256, key),
        { priority: RETROSCAN_PRIORITY },
      );
    // Two scans run for good (one completed, one failed), then one queued with no worker to take it.
    const worker = new Worker(
      QueueName.Scan,
      (j) => {
        if ((j.data as { sha256: string }).sha256 === failed) throw new UnrecoverableError('gone');
        return Promise.resolve();
      },
      { connection: { url: connection.url }, prefix: connection.prefix },
    );
    const finished = new Promise<void>((resolve) => {
      let n = 0;
      const one = () => (++n === 2 ? resolve() : undefined);
      worker.on('completed', one);
      worker.on('failed', one);
    });
    await scan(done);
    await scan(failed);
    await finished;
    await worker.close();
    await scan(waiting);
    const queue = new Queue(QueueName.Scan, {
      connection: { url: connection.url },
      prefix: connection.prefix,
    });
    const before = await queue.getJob(scanJobId(waiting, key));

    // The database knows none of their scans: Redis tells what ran, what is still to run, what is lost.
    const { run, rows } = (() => {
      const retroscans = retroscanRows(
        [done, failed, waiting, lost].map((sha256) => ({ sha256, scanned: false })),
      );
      retroscans.rows.set(key, {
        key,
        rulesetId: 'r1',
        until: new Date(job.until),
        rule: null,
        rulesAsOf: new Date(NOW),
        cursor: null,
        status: 'checking',
        progressedAt: new Date(),
      });
      const rulesets = {
        activeId: () => Promise.resolve({ id: 'r1', at: new Date(NOW) }),
      } as unknown as RulesetsRepository;
      const config = loadConfig({ SPECIMEN_ADMIN_TOKEN: 'x'.repeat(32) });
      return {
        run: new RetroscanProcessor(
          config,
          {} as RetrohuntsRepository,
          rulesets,
          retroscans.repository,
          producer,
        ),
        rows: retroscans.rows,
      };
    })();
    const next = await postponed(run.check({ ...job, rulesAsOf: NOW }, postpone));
    assert.equal(
      next.delayMs,
      loadConfig({ SPECIMEN_ADMIN_TOKEN: 'x'.repeat(32) }).scanner.retroscanCheckEveryMs,
    );
    assert.equal(rows.get(key)?.cursor, failed, 'the frontier over the two that ran, before the one waiting');
    const states = await Promise.all(
      [done, failed, waiting, lost].map((sha256) => queue.getJobState(scanJobId(sha256, key))),
    );
    assert.deepEqual(states, ['completed', 'failed', 'prioritized', 'prioritized']);
    const after_ = await queue.getJob(scanJobId(waiting, key));
    assert.equal(after_?.timestamp, before?.timestamp, 'the waiting job is the same one');
    assert.deepEqual((await queue.getJob(scanJobId(lost, key)))?.data, { sha256: lost, rulesAsOf: NOW });
    assert.equal(await queue.getPrioritizedCount(), 2);
    await queue.close();
  });
});
