import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '#config';
import type { RetrohuntsRepository, RulesetsRepository } from '#database';
import type { QueueProducer } from '#queue';
import { RetroscanProcessor } from './retroscan.processor.js';

/** A processor over fakes: `active` is the active version's id; what it queues is recorded. */
function processor(active: string | null, samples: string[], batchSize = 100) {
  const added: string[] = [];
  const data: unknown[] = [];
  const retrohunts = {
    samplesAfter: () => Promise.resolve(samples.map((sha256) => ({ sha256 }))),
  } as unknown as RetrohuntsRepository;
  const rulesets = {
    activeId: () => Promise.resolve({ id: active, at: new Date(NOW) }),
  } as unknown as RulesetsRepository;
  const queue = {
    backlog: () => Promise.resolve(0),
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
  return { run: new RetroscanProcessor(config, retrohunts, rulesets, queue), added, data };
}

/** The database's clock as the fake repository reads it. */
const NOW = '2026-11-30T12:00:00.000Z';

describe('RetroscanProcessor', () => {
  const job = { rulesetId: 'r1', until: '2026-11-30T00:00:00.000Z' };

  it('queues a scan for each sample of the batch while its version is active', async () => {
    const { run, added } = processor('r1', ['a'.repeat(64), 'b'.repeat(64)]);
    assert.deepEqual(await run.handle(job), { queued: 2, waiting: false });
    assert.equal(added.length, 2);
  });

  it("binds every scan, and the next batch's, to the database's clock after the change", async () => {
    const samples = ['a'.repeat(64), 'b'.repeat(64)];
    const first = processor('r1', samples, 2);
    await first.run.handle(job);
    assert.deepEqual(first.data, [
      { sha256: samples[0], rulesAsOf: NOW },
      { sha256: samples[1], rulesAsOf: NOW },
      { ...job, after: samples[1], rulesAsOf: NOW },
    ]);
    // A later batch keeps the first one's instant (scanners read the states once, not once per batch).
    const later = processor('r1', samples.slice(0, 1), 2);
    const earlier = '2026-11-30T11:00:00.000Z';
    await later.run.handle({ ...job, after: samples[1], rulesAsOf: earlier });
    assert.deepEqual(later.data, [{ sha256: samples[0], rulesAsOf: earlier }]);
  });

  it('stops once another version is active: that one covers the samples', async () => {
    const { run, added } = processor('r2', ['a'.repeat(64)]);
    assert.deepEqual(await run.handle(job), { queued: 0, waiting: false, superseded: true });
    assert.deepEqual(added, []);
  });
});
