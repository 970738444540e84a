import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '#config';
import type {
  RetrohuntsRepository,
  RetroscanRecord,
  RetroscansRepository,
  RulesetsRepository,
} from '#database';
import { type QueueProducer, retroscanKey } from '#queue';
import { RetroscanProcessor } from './retroscan.processor.js';

/** The `retroscans` table in memory, as the repository behaves. */
function retroscanRows() {
  const rows = new Map<string, RetroscanRecord>();
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
      row.cursor = batch.to;
      row.rulesAsOf ??= batch.rulesAsOf;
      if (batch.last) row.status = 'done';
      return Promise.resolve(true);
    },
    supersede: (key: string) => {
      const row = rows.get(key);
      if (row?.status === 'running') row.status = 'superseded';
      return Promise.resolve();
    },
  } as unknown as RetroscansRepository;
  return { rows, repository };
}

/** Stands for postponeJob: what the worker is told, and no job added. */
class Postponed extends Error {}
const postpone = (delayMs: number): Promise<never> => Promise.reject(new Postponed(String(delayMs)));

/** A processor over fakes: `active` is the active version's id; what it queues is recorded. */
function processor(active: string | null, samples: string[], batchSize = 100, backlog = 0) {
  const added: string[] = [];
  const data: unknown[] = [];
  const retrohunts = {
    samplesAfter: () => Promise.resolve(samples.map((sha256) => ({ sha256 }))),
  } as unknown as RetrohuntsRepository;
  const retroscans = retroscanRows();
  const rulesets = {
    activeId: () => Promise.resolve({ id: active, at: new Date(NOW) }),
  } as unknown as RulesetsRepository;
  const queue = {
    backlog: () => Promise.resolve(backlog),
    add: (item: { data: unknown }, jobId: string) => {
      added.push(jobId);
      data.push(item.data);
      return Promise.resolve();
    },
  } as unknown as QueueProducer;
  const config = loadConfig({
    SPECIMEN_ADMIN_TOKEN: 'x'.repeat(32),
    RETROHUNT_BATCH_SIZE: String(batchSize),
  });
  return {
    run: new RetroscanProcessor(config, retrohunts, rulesets, retroscans.repository, queue),
    added,
    data,
    rows: retroscans.rows,
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
    assert.equal(added.length, 2);
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
    assert.deepEqual(later.data, [{ sha256: samples[0], rulesAsOf: earlier }]);
  });

  it('stops once another version is active: that one covers the samples', async () => {
    const { run, added, rows, retroscans } = processor('r2', ['a'.repeat(64)]);
    // As the activation recorded it.
    await retroscans.create({ key: retroscanKey(job), rulesetId: 'r1', until: new Date(job.until) });
    assert.deepEqual(await run.handle(job, postpone), { queued: 0, superseded: true });
    assert.deepEqual(added, []);
    assert.equal(rows.get(retroscanKey(job))?.status, 'superseded');
  });

  it('records how far each batch got before it queues the next, and ends as done with the last', async () => {
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
    assert.equal(last.rows.get(retroscanKey(job))?.status, 'done');
    assert.deepEqual(last.added, []);
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
});
