import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '#config';
import type { RetrohuntsRepository, RulesetsRepository } from '#database';
import type { QueueProducer } from '#queue';
import { RetroscanProcessor } from './retroscan.processor.js';

/** A processor over fakes: `active` is the active version's id; what it queues is recorded. */
function processor(active: string | null, samples: string[]) {
  const added: string[] = [];
  const retrohunts = {
    samplesAfter: () => Promise.resolve(samples.map((sha256) => ({ sha256 }))),
  } as unknown as RetrohuntsRepository;
  const rulesets = { activeId: () => Promise.resolve(active) } as unknown as RulesetsRepository;
  const queue = {
    backlog: () => Promise.resolve(0),
    add: (_item: unknown, jobId: string) => {
      added.push(jobId);
      return Promise.resolve();
    },
  } as unknown as QueueProducer;
  const config = loadConfig({ SPECIMEN_ADMIN_TOKEN: 'x'.repeat(32) });
  return { run: new RetroscanProcessor(config, retrohunts, rulesets, queue), added };
}

describe('RetroscanProcessor', () => {
  const job = { rulesetId: 'r1', until: '2026-11-30T00:00:00.000Z' };

  it('queues a scan for each sample of the batch while its version is active', async () => {
    const { run, added } = processor('r1', ['a'.repeat(64), 'b'.repeat(64)]);
    assert.deepEqual(await run.handle(job), { queued: 2, waiting: false });
    assert.equal(added.length, 2);
  });

  it('stops once another version is active: that one covers the samples', async () => {
    const { run, added } = processor('r2', ['a'.repeat(64)]);
    assert.deepEqual(await run.handle(job), { queued: 0, waiting: false, superseded: true });
    assert.deepEqual(added, []);
  });
});
