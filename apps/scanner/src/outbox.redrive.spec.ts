import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JobName, QueueName } from '#contracts';
import type { OutboxRecord } from '#database';
import { jobItemOf } from './outbox.redrive.js';

const row = (queue: string, name: string, payload: Record<string, unknown>): OutboxRecord => ({
  id: 1,
  queue,
  name,
  jobId: 'x',
  payload,
  createdAt: new Date(),
  attempts: 0,
});

describe('jobItemOf', () => {
  it('rebuilds retrohunt and retro-scan batch jobs', () => {
    assert.deepEqual(jobItemOf(row('retrohunt', 'retrohunt-batch', { retrohuntId: 'h' })), {
      queue: QueueName.Retrohunt,
      name: JobName.RetrohuntBatch,
      data: { retrohuntId: 'h' },
    });
    assert.deepEqual(
      jobItemOf(
        row('retrohunt', 'retroscan-batch', {
          rulesetId: 'r',
          until: '2026-01-01T00:00:00.000Z',
          after: 'a',
        }),
      ),
      {
        queue: QueueName.Retrohunt,
        name: JobName.RetroscanBatch,
        data: { rulesetId: 'r', until: '2026-01-01T00:00:00.000Z', after: 'a' },
      },
    );
  });

  it("keeps a rule-state rescan's rule and the jobs' rules instant", () => {
    const payload = { rulesetId: 'r', until: '2026-01-01T00:00:00.000Z', rule: 'Noisy_Rule' };
    // Without its rule, a redriven rescan of the samples that matched one rule would rescan every sample.
    assert.deepEqual(jobItemOf(row('retrohunt', 'retroscan-batch', payload)), {
      queue: QueueName.Retrohunt,
      name: JobName.RetroscanBatch,
      data: payload,
    });
    const rescan = { sha256: 'a'.repeat(64), rulesAsOf: '2026-01-01T00:00:01.000Z' };
    assert.deepEqual(jobItemOf(row('scan', 'scan-sample', rescan)), {
      queue: QueueName.Scan,
      name: JobName.ScanSample,
      data: rescan,
    });
  });

  it('refuses rows with a malformed payload', () => {
    assert.equal(jobItemOf(row('retrohunt', 'retrohunt-batch', {})), null);
    assert.equal(jobItemOf(row('retrohunt', 'retroscan-batch', { rulesetId: 'r' })), null);
  });
});
