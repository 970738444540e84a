import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '#config';
import { type JobItem, QueueName } from '#contracts';
import type { RetrohuntsRepository, RetroscanRecord, RetroscansRepository } from '#database';
import type { QueueProducer } from '#queue';
import { RetroChainsRedrive } from './retro-chains.redrive.js';

const CURSOR = 'c'.repeat(64);
const UNTIL = '2026-11-30T10:00:00.000Z';

function retroscan(overrides: Partial<RetroscanRecord>): RetroscanRecord {
  return {
    key: 'k',
    rulesetId: 'r1',
    until: new Date(UNTIL),
    rule: null,
    rulesAsOf: null,
    cursor: null,
    status: 'running',
    progressedAt: new Date(0),
    ...overrides,
  };
}

/**
 * The re-drive over fakes: the quiet chains the repositories answer, and a queue that holds the jobs of
 * `held` (in whatever state) and dedupes by id as BullMQ does.
 */
function redrive(options: {
  retrohunts?: { id: string; cursor: string | null }[];
  retroscans?: RetroscanRecord[];
  held?: string[];
  /** Jobs held as failed for good. */
  failed?: string[];
}) {
  const held = new Set([...(options.held ?? []), ...(options.failed ?? [])]);
  const failed = new Set(options.failed ?? []);
  const retried: string[] = [];
  const added: { jobId: string; item: JobItem }[] = [];
  const asked: Date[] = [];
  const retrohunts = {
    quietSince: (olderThan: Date) => {
      asked.push(olderThan);
      return Promise.resolve(options.retrohunts ?? []);
    },
  } as unknown as RetrohuntsRepository;
  const retroscans = {
    quietSince: (olderThan: Date) => {
      asked.push(olderThan);
      return Promise.resolve(options.retroscans ?? []);
    },
  } as unknown as RetroscansRepository;
  const queue = {
    hasJob: (name: QueueName, jobId: string) => {
      assert.equal(name, QueueName.Retrohunt);
      return Promise.resolve(held.has(jobId));
    },
    jobState: (name: QueueName, jobId: string) => {
      assert.equal(name, QueueName.Retrohunt);
      return Promise.resolve(failed.has(jobId) ? 'failed' : held.has(jobId) ? 'waiting' : 'unknown');
    },
    replayFailed: (name: QueueName, ids: string[]) => {
      assert.equal(name, QueueName.Retrohunt);
      for (const id of ids) if (failed.delete(id)) retried.push(id);
      return Promise.resolve({ replayed: ids, notFailed: [] });
    },
    add: (item: JobItem, jobId: string) => {
      if (!held.has(jobId)) added.push({ jobId, item });
      held.add(jobId);
      return Promise.resolve();
    },
  } as unknown as QueueProducer;
  const config = loadConfig({ SPECIMEN_ADMIN_TOKEN: 'x'.repeat(32), RETROHUNT_STALLED_AFTER_MS: '5000' });
  return { run: new RetroChainsRedrive(retrohunts, retroscans, queue, config), added, asked, retried };
}

describe('RetroChainsRedrive', () => {
  it('puts back the next batch of a retrohunt Redis lost, under the id of the batch after its cursor', async () => {
    const { run, added } = redrive({
      retrohunts: [
        { id: 'lost-midway', cursor: CURSOR },
        { id: 'lost-first', cursor: null },
      ],
    });
    assert.deepEqual(await run.handle(), { retrohunts: 2, retroscans: 0 });
    assert.deepEqual(added, [
      {
        jobId: `retrohunt-lost-midway-${CURSOR}`,
        item: {
          queue: QueueName.Retrohunt,
          name: 'retrohunt-batch',
          data: { retrohuntId: 'lost-midway', after: CURSOR },
        },
      },
      {
        jobId: 'retrohunt-lost-first-start',
        item: { queue: QueueName.Retrohunt, name: 'retrohunt-batch', data: { retrohuntId: 'lost-first' } },
      },
    ]);
  });

  it('leaves alone a chain whose next job the queue holds in any state (waiting for a slot, or a long batch)', async () => {
    const { run, added } = redrive({
      retrohunts: [
        { id: 'waiting', cursor: CURSOR },
        { id: 'queued', cursor: null },
      ],
      retroscans: [retroscan({ cursor: CURSOR })],
      held: [
        `retrohunt-waiting-${CURSOR}`,
        'retrohunt-queued-start',
        `retroscan-r1-${Date.parse(UNTIL)}-${CURSOR}`,
      ],
    });
    assert.deepEqual(await run.handle(), { retrohunts: 0, retroscans: 0 });
    assert.deepEqual(added, []);
  });

  it('asks only for chains that have not moved for RETROHUNT_STALLED_AFTER_MS', async () => {
    const { run, asked } = redrive({});
    const before = Date.now();
    await run.handle();
    assert.equal(asked.length, 2);
    for (const at of asked) {
      assert.ok(at.getTime() >= before - 5000 && at.getTime() <= Date.now() - 5000, at.toISOString());
    }
  });

  it('puts back a retro-scan from its cursor, with its rule and rules instant, as the job its batches name', async () => {
    const rulesAsOf = '2026-11-30T10:00:01.000Z';
    const { run, added } = redrive({
      retroscans: [
        retroscan({ cursor: CURSOR, rule: 'Noisy_Rule', rulesAsOf: new Date(rulesAsOf) }),
        retroscan({ rulesetId: 'r2' }),
      ],
    });
    assert.deepEqual(await run.handle(), { retrohunts: 0, retroscans: 2 });
    assert.deepEqual(added, [
      {
        // retroscanJobId: the name the batch before gave it, so one it queued meanwhile counts once.
        jobId: `retroscan-r1-${Date.parse(UNTIL)}-rule-Noisy_Rule-${CURSOR}`,
        item: {
          queue: QueueName.Retrohunt,
          name: 'retroscan-batch',
          data: { rulesetId: 'r1', until: UNTIL, after: CURSOR, rule: 'Noisy_Rule', rulesAsOf },
        },
      },
      {
        jobId: `retroscan-r2-${Date.parse(UNTIL)}-start`,
        item: {
          queue: QueueName.Retrohunt,
          name: 'retroscan-batch',
          data: { rulesetId: 'r2', until: UNTIL },
        },
      },
    ]);
  });

  it('puts back the check job of a checking retro-scan Redis lost, under its one id; leaves a held one', async () => {
    const rulesAsOf = '2026-11-30T10:00:01.000Z';
    const { run, added } = redrive({
      retroscans: [
        retroscan({ status: 'checking', cursor: CURSOR, rulesAsOf: new Date(rulesAsOf), rule: 'Noisy_Rule' }),
        retroscan({ rulesetId: 'r2', status: 'checking', rulesAsOf: new Date(rulesAsOf) }),
        retroscan({ rulesetId: 'r3', status: 'checking', rulesAsOf: new Date(rulesAsOf) }),
      ],
      // r3's check waits in Redis (delayed until its next pass).
      held: [`retroscan-r3-${Date.parse(UNTIL)}-check`],
    });
    assert.deepEqual(await run.handle(), { retrohunts: 0, retroscans: 2 });
    assert.deepEqual(added, [
      {
        // From the frontier the row keeps (no `after`): the scans Redis lost with it are found again.
        jobId: `retroscan-r1-${Date.parse(UNTIL)}-rule-Noisy_Rule-check`,
        item: {
          queue: QueueName.Retrohunt,
          name: 'retroscan-check',
          data: { rulesetId: 'r1', until: UNTIL, rule: 'Noisy_Rule', rulesAsOf },
        },
      },
      {
        jobId: `retroscan-r2-${Date.parse(UNTIL)}-check`,
        item: {
          queue: QueueName.Retrohunt,
          name: 'retroscan-check',
          data: { rulesetId: 'r2', until: UNTIL, rulesAsOf },
        },
      },
    ]);
  });

  it('retries a retro-scan batch or check job that failed for good, once, its attempts reset', async () => {
    const rulesAsOf = '2026-11-30T10:00:01.000Z';
    const batchId = `retroscan-r1-${Date.parse(UNTIL)}-${CURSOR}`;
    const checkId = `retroscan-r2-${Date.parse(UNTIL)}-check`;
    const { run, added, retried } = redrive({
      retroscans: [
        retroscan({ cursor: CURSOR, rulesAsOf: new Date(rulesAsOf) }),
        retroscan({ rulesetId: 'r2', status: 'checking', rulesAsOf: new Date(rulesAsOf) }),
      ],
      failed: [batchId, checkId],
    });
    assert.deepEqual(await run.handle(), { retrohunts: 0, retroscans: 2 });
    assert.deepEqual(retried, [batchId, checkId]);
    assert.deepEqual(added, [], 'retried under their ids, not added again');
    // Waiting again: the next run leaves them alone.
    assert.deepEqual(await run.handle(), { retrohunts: 0, retroscans: 0 });
  });

  it('puts a lost job back once: the next run finds it in the queue', async () => {
    const { run, added } = redrive({ retrohunts: [{ id: 'h', cursor: CURSOR }] });
    await run.handle();
    assert.deepEqual(await run.handle(), { retrohunts: 0, retroscans: 0 });
    assert.equal(added.length, 1);
  });
});
