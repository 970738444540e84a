import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JobName, QueueName } from '#contracts';
import type { Config } from '#config';
import type { OutboxRecord, OutboxRepository, StrandedCursor, SubmissionsRepository } from '#database';
import { type QueueProducer, ingestScanJobId } from '#queue';
import { OutboxRedrive, jobItemOf } from './outbox.redrive.js';
import type { RetroChainsRedrive } from './retro-chains.redrive.js';

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

describe('OutboxRedrive, scan jobs Redis lost', () => {
  /** A re-drive over `pages` of unscanned samples, the queue holding the jobs of `queued`. */
  function redrive(pages: string[][], queued: Set<string>) {
    const asked: Array<StrandedCursor | null> = [];
    const added: string[] = [];
    const submissions = {
      strandedScans: (_olderThan: Date, _limit: number, after: StrandedCursor | null) => {
        asked.push(after);
        const index = after === null ? 0 : Number(after.sha256.split('-')[0]) + 1;
        const samples = (pages[index] ?? []).map((sha256) => ({ sha256, submissionId: `sub-${sha256}` }));
        const last = samples.at(-1);
        const next =
          index + 1 < pages.length && last !== undefined
            ? { firstSeen: '2001-01-01 00:00:00+00', sha256: `${index}-${last.sha256}` }
            : null;
        return Promise.resolve({ samples, next });
      },
    };
    const queue = {
      hasJob: (_queue: QueueName, jobId: string) =>
        Promise.resolve([...queued].some((sha) => jobId === ingestScanJobId(sha, `sub-${sha}`))),
      add: (_item: unknown, jobId: string) => {
        added.push(jobId);
        return Promise.resolve();
      },
    };
    const outbox = { pending: () => Promise.resolve([]) };
    const chains = { handle: () => Promise.resolve({ retrohunts: 0, retroscans: 0 }) };
    const service = new OutboxRedrive(
      outbox as unknown as OutboxRepository,
      submissions as unknown as SubmissionsRepository,
      queue as unknown as QueueProducer,
      { scanner: { strandedAfterMs: 120_000 } } as Pick<Config, 'scanner'>,
      chains as unknown as RetroChainsRedrive,
    );
    return { run: () => service.handle({ olderThanMs: 5_000 }), asked, added };
  }

  it('goes on where the last run stopped, past samples whose jobs are queued, then starts again', async () => {
    // The oldest page's jobs are all queued (a backlog); the lost one is on the second page.
    const { run, asked, added } = redrive(
      [
        ['a', 'b'],
        ['c', 'lost'],
      ],
      new Set(['a', 'b', 'c']),
    );
    assert.equal((await run()).requeued, 0);
    assert.equal((await run()).requeued, 1);
    assert.equal(added.length, 1);
    assert.equal(added[0], ingestScanJobId('lost', 'sub-lost'));
    await run();
    assert.deepEqual(
      asked.map((c) => c?.sha256 ?? null),
      [null, '0-b', null],
      'the third run starts from the oldest again',
    );
  });
});
