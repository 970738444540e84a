import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Job } from 'bullmq';
import type { Config } from '#config';
import type {
  BatchSample,
  RetrohuntBatchResult,
  RetrohuntRecord,
  RetrohuntsRepository,
  RetrohuntTotals,
} from '#database';
import type { QueueProducer } from '#queue';
import { SCAN_EXTERNALS } from '#contracts';
import { type ObjectStore, createObjectStore, retrohuntRulesKey } from '#storage';
import { startS3Server } from '#test-support';
import { compileRules, compileTag } from '#yara';
import { RetrohuntProcessor } from './retrohunt.processor.js';

describe('RetrohuntProcessor batch', () => {
  let dir: string;
  const sizes = [10, 5000, 300, 70_000, 2000];
  const batch: BatchSample[] = sizes.map((size, i) => ({
    sha256: String(i).repeat(64).slice(0, 64),
    size,
    kind: 'file',
    objectKey: `sample-${i}`,
    fileType: 'unknown',
  }));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'specimen-retrohunt-spec-'));
    for (const sample of batch) {
      await writeFile(join(dir, sample.objectKey), Buffer.alloc(sample.size, sample.size === 300 ? 'x' : 0));
    }
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** Runs one job of retrohunt `id` on a processor over these fakes (`lanes` scans at once), then shuts it down. */
  const runJob = async (store: ObjectStore, retrohunts: RetrohuntsRepository, id: string, lanes = 1) => {
    const config = {
      scanner: { retrohuntBatchSize: 100, retrohuntConcurrency: lanes, timeoutMs: 60_000 },
      stewardship: { retentionDays: 365 },
    } as unknown as Config;
    const queue = { add: () => Promise.resolve() } as unknown as QueueProducer;
    const processor = new RetrohuntProcessor(config, store, retrohunts, queue);
    try {
      return await processor.handle({ retrohuntId: id }, { attemptsMade: 0, opts: {} } as Job);
    } finally {
      processor.onApplicationShutdown();
    }
  };

  /**
   * A store whose objects are this folder's files, listing the samples it was asked for and the keys it
   * deleted; compiled rules are looked for under `retrohunt-rules/` (absent unless a test writes them),
   * the only folder it lists.
   */
  const recordingStore = (): { opened: string[]; deleted: string[]; store: ObjectStore } => {
    const opened: string[] = [];
    const deleted: string[] = [];
    const store = {
      localPath: (key: string) => {
        if (!key.startsWith('retrohunt-rules/')) opened.push(key);
        return join(dir, key);
      },
      delete: (key: string) => {
        deleted.push(key);
        return rm(join(dir, key), { force: true });
      },
      list: async function* (prefix: string) {
        const names = await readdir(join(dir, 'retrohunt-rules')).catch(() => []);
        for (const name of names) {
          const key = `retrohunt-rules/${name}`;
          if (key.startsWith(prefix)) yield { key, size: 0, lastModified: new Date() };
        }
      },
    } as unknown as ObjectStore;
    return { opened, deleted, store };
  };

  /** What the repository answers to a recorded batch (the totals of that batch alone will do here). */
  const totals = (result: RetrohuntBatchResult): RetrohuntTotals => ({
    scanned: result.scanned,
    bytes: result.bytes,
    matchCount: result.matches.length,
  });

  /** A repository with one retrohunt over `batch` in one batch, recording what the batch records. */
  const oneBatch = (hunt: RetrohuntRecord, recorded: RetrohuntBatchResult[]): RetrohuntsRepository =>
    ({
      findSummary: () => Promise.resolve(hunt),
      source: () => Promise.resolve(hunt.source),
      start: () => Promise.resolve(true),
      status: () => Promise.resolve('running'),
      samplesAfter: () => Promise.resolve(batch),
      recordBatch: (_id: string, result: RetrohuntBatchResult) => {
        recorded.push(result);
        return Promise.resolve(totals(result));
      },
      finish: () => Promise.resolve(null),
    }) as unknown as RetrohuntsRepository;

  it('scans the largest samples first and records the whole batch', async () => {
    const { opened, store } = recordingStore();
    const recorded: RetrohuntBatchResult[] = [];
    const hunt = {
      id: 'hunt-1',
      source: 'rule many_x { strings: $x = "xxxxxxxx" condition: $x }',
      status: 'running',
      cursor: null,
      createdAt: new Date(),
    } as RetrohuntRecord;
    const outcome = await runJob(store, oneBatch(hunt, recorded), hunt.id);
    assert.deepEqual(outcome, { scanned: 5, finished: true });
    // One lane: the dispatch order is the scan order, by size, largest first.
    assert.deepEqual(opened, ['sample-3', 'sample-1', 'sample-4', 'sample-2', 'sample-0']);
    assert.equal(recorded.length, 1);
    assert.equal(
      recorded[0]?.bytes,
      sizes.reduce((a, b) => a + b, 0),
    );
    assert.equal(recorded[0]?.to, batch.at(-1)?.sha256, 'the cursor still moves in sha256 order');
    assert.deepEqual(
      recorded[0]?.matches.map((m) => [m.sampleSha256, m.rule]),
      [[batch[2]?.sha256, 'many_x']],
    );
  });

  const MANY_X = 'rule many_x { strings: $x = "xxxxxxxx" condition: $x }';
  /** Where the API leaves a retrohunt's compiled rules, as both sides name them. */
  const storedKey = (id: string): string =>
    retrohuntRulesKey(id, compileTag(['retrohunt'], { externals: SCAN_EXTERNALS }));
  /** Rules of `id` stored under a tag that is not this scanner's (an API with another libyara). */
  const strayKey = (id: string): string => retrohuntRulesKey(id, '9.9.9-0123456789abcdef');

  /** Runs a one-batch retrohunt of `source` on two lanes: [sample, rule] of each match. */
  const huntOnce = async (id: string, source: string, store: ObjectStore): Promise<string[][]> => {
    const recorded: RetrohuntBatchResult[] = [];
    const hunt = { id, source, status: 'running', cursor: null, createdAt: new Date() } as RetrohuntRecord;
    await runJob(store, oneBatch(hunt, recorded), id, 2);
    return recorded[0]?.matches.map((m) => [m.sampleSha256, m.rule]) ?? [];
  };

  it('loads the compiled rules the API stored instead of compiling the text, and removes them', async () => {
    const { store, deleted } = recordingStore();
    const key = storedKey('hunt-3');
    const stored = compileRules([{ source: MANY_X, namespace: 'retrohunt' }], {
      externals: SCAN_EXTERNALS,
    }).rules;
    await mkdir(join(dir, 'retrohunt-rules'), { recursive: true });
    stored?.save(join(dir, key));
    stored?.destroy();
    // The text matches nothing in the batch: a match of the stored rules shows that those were used.
    const none = 'rule none { strings: $x = "never in any sample" condition: $x }';
    assert.deepEqual(await huntOnce('hunt-3', none, store), [[batch[2]?.sha256, 'many_x']]);
    assert.deepEqual(deleted, [key], 'a hand-over: the first process to load them removes them');
    await assert.rejects(stat(join(dir, key)));
  });

  it('removes the stored rules of a retrohunt with nothing to scan', async () => {
    const { store, deleted } = recordingStore();
    const key = storedKey('hunt-empty');
    await mkdir(join(dir, 'retrohunt-rules'), { recursive: true });
    await writeFile(join(dir, key), 'compiled rules, never loaded');
    await writeFile(join(dir, strayKey('hunt-empty')), 'compiled by another libyara, never loaded');
    const hunt = { id: 'hunt-empty', source: MANY_X, status: 'queued', cursor: null, createdAt: new Date() };
    const completed: string[] = [];
    const retrohunts = {
      findSummary: () => Promise.resolve(hunt),
      start: () => Promise.resolve(true),
      samplesAfter: () => Promise.resolve([]),
      recordBatch: (id: string) => {
        completed.push(id);
        return Promise.resolve({ scanned: 0, bytes: 0, matchCount: 0 });
      },
      finish: (id: string) => {
        completed.push(id);
        return Promise.resolve(null);
      },
    } as unknown as RetrohuntsRepository;
    const outcome = await runJob(store, retrohunts, hunt.id);
    assert.deepEqual(outcome, { scanned: 0, finished: true });
    assert.ok(completed.includes('hunt-empty'), 'the retrohunt is done');
    assert.deepEqual(deleted.sort(), [key, strayKey('hunt-empty')].sort());
    await assert.rejects(stat(join(dir, key)));
    await assert.rejects(stat(join(dir, strayKey('hunt-empty'))));
  });

  it("removes stored rules under every tag once the retrohunt is done, and no other retrohunt's", async () => {
    const { store, deleted } = recordingStore();
    await mkdir(join(dir, 'retrohunt-rules'), { recursive: true });
    await writeFile(join(dir, strayKey('hunt-6')), 'rules this scanner cannot name');
    await writeFile(join(dir, strayKey('hunt-60')), "another retrohunt's rules");
    assert.deepEqual(await huntOnce('hunt-6', MANY_X, store), [[batch[2]?.sha256, 'many_x']]);
    assert.deepEqual(deleted, [strayKey('hunt-6')]);
    await assert.rejects(stat(join(dir, strayKey('hunt-6'))));
    await stat(join(dir, strayKey('hunt-60')));
    await rm(join(dir, strayKey('hunt-60')));
  });

  it('removes stored rules under every tag when the retrohunt fails', async () => {
    const { store, deleted } = recordingStore();
    await mkdir(join(dir, 'retrohunt-rules'), { recursive: true });
    await writeFile(join(dir, strayKey('hunt-7')), 'rules this scanner cannot name');
    const finished: string[] = [];
    const retrohunts = {
      ...oneBatch(
        { id: 'hunt-7', status: 'running', cursor: null, createdAt: new Date() } as RetrohuntRecord,
        [],
      ),
      // No rule of it compiles here (the scanner's libyara differs): the retrohunt fails for good.
      source: () => Promise.resolve('rule broken { condition: nope }'),
      finish: (_id: string, status: string) => {
        finished.push(status);
        return Promise.resolve(null);
      },
    } as unknown as RetrohuntsRepository;
    await assert.rejects(runJob(store, retrohunts, 'hunt-7'), /no rule of the retrohunt compiles/);
    assert.deepEqual(finished, ['failed']);
    assert.deepEqual(deleted, [strayKey('hunt-7')]);
    await assert.rejects(stat(join(dir, strayKey('hunt-7'))));
  });

  it('compiles the text when the stored rules do not load', async () => {
    const { store } = recordingStore();
    await mkdir(join(dir, 'retrohunt-rules'), { recursive: true });
    await writeFile(join(dir, storedKey('hunt-4')), 'not compiled rules');
    assert.deepEqual(await huntOnce('hunt-4', MANY_X, store), [[batch[2]?.sha256, 'many_x']]);
  });

  it('starts the next batch early and lets it adopt those scans: each sample scanned once, in order', async () => {
    const { opened, store } = recordingStore();
    const sorted = [...batch].sort((a, b) => a.sha256.localeCompare(b.sha256));
    const recorded: RetrohuntBatchResult[] = [];
    const reads: Array<string | null> = [];
    const hunt = {
      id: 'hunt-2',
      source: 'rule many_x { strings: $x = "xxxxxxxx" condition: $x }',
      status: 'running',
      cursor: null as string | null,
      createdAt: new Date(),
    } as RetrohuntRecord;
    const retrohunts = {
      findSummary: () => Promise.resolve({ ...hunt }),
      source: () => Promise.resolve(hunt.source),
      start: () => Promise.resolve(true),
      status: () => Promise.resolve('running'),
      samplesAfter: ({ after, limit }: { after?: string | null; limit: number }) => {
        reads.push(after ?? null);
        return Promise.resolve(sorted.filter((s) => after == null || s.sha256 > after).slice(0, limit));
      },
      recordBatch: (_id: string, result: RetrohuntBatchResult) => {
        recorded.push(result);
        hunt.cursor = result.to;
        return Promise.resolve(totals(result));
      },
      finish: () => Promise.resolve(null),
    } as unknown as RetrohuntsRepository;
    const queued: Array<{ after?: string }> = [];
    const queue = {
      add: (item: { data: { after?: string } }) => {
        queued.push(item.data);
        return Promise.resolve();
      },
    } as unknown as QueueProducer;
    const config = {
      scanner: { retrohuntBatchSize: 2, retrohuntConcurrency: 2, timeoutMs: 60_000 },
      stewardship: { retentionDays: 365 },
    } as unknown as Config;
    const processor = new RetrohuntProcessor(config, store, retrohunts, queue);
    const job = { attemptsMade: 0, opts: {} } as Job;
    try {
      let data: { retrohuntId: string; after?: string } = { retrohuntId: hunt.id };
      for (let i = 0; i < 10; i++) {
        const outcome = await processor.handle(data, job);
        if (outcome.finished) break;
        const after = queued.at(-1)?.after;
        data = after === undefined ? { retrohuntId: hunt.id } : { retrohuntId: hunt.id, after };
      }
    } finally {
      processor.onApplicationShutdown();
    }
    assert.deepEqual(
      recorded.map((r) => [r.from, r.to, r.scanned]),
      [
        [null, sorted[1]?.sha256, 2],
        [sorted[1]?.sha256, sorted[3]?.sha256, 2],
        [sorted[3]?.sha256, sorted[4]?.sha256, 1],
      ],
    );
    assert.deepEqual(
      recorded.map((r) => r.last),
      [false, false, true],
      'the short batch ends the retrohunt in its own transaction',
    );
    assert.equal(
      recorded.reduce((sum, r) => sum + r.bytes, 0),
      sizes.reduce((a, b) => a + b, 0),
    );
    assert.deepEqual(
      recorded.flatMap((r) => r.matches.map((m) => m.sampleSha256)),
      [batch[2]?.sha256],
    );
    assert.deepEqual([...opened].sort(), batch.map((b) => b.objectKey).sort(), 'every sample scanned once');
    // Each batch's list was read once, during the previous batch's scans (the first one at its start).
    assert.deepEqual(reads, [null, sorted[1]?.sha256, sorted[3]?.sha256]);
  });

  it('skips a sample whose object is gone from S3, as on fs, and scans the rest of the batch', async () => {
    const s3 = await startS3Server();
    try {
      const store = await createObjectStore(s3.url);
      const gone = batch[1]!;
      for (const sample of batch) {
        if (sample !== gone) await store.put(sample.objectKey, createReadStream(join(dir, sample.objectKey)));
      }
      const recorded: RetrohuntBatchResult[] = [];
      const hunt = { id: 'hunt-s3', source: MANY_X, status: 'running', cursor: null, createdAt: new Date() };
      const outcome = await runJob(store, oneBatch(hunt as RetrohuntRecord, recorded), hunt.id, 2);
      assert.deepEqual(outcome, { scanned: 5, finished: true });
      assert.equal(recorded.length, 1);
      assert.equal(
        recorded[0]?.bytes,
        sizes.reduce((a, b) => a + b, 0) - gone.size,
        'no bytes of the gone one',
      );
      assert.deepEqual(
        recorded[0]?.matches.map((m) => [m.sampleSha256, m.rule]),
        [[batch[2]?.sha256, 'many_x']],
      );
      // No stored rules in the bucket count as none (compiled instead), not as rules that do not load
      // (which removes them): nothing is deleted.
      assert.deepEqual(
        s3.requests().filter((r) => r.method === 'DELETE'),
        [],
      );
    } finally {
      await s3.close();
    }
  });
});
