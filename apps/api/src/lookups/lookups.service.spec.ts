import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Config } from '#config';
import { LookupItem, SpecimenError, type JobItem, type Principal } from '#contracts';
import type { LookupRead, SightingBatch, SubmissionsRepository } from '#database';
import type { QueueProducer } from '#queue';
import type { ObjectStore } from '#storage';
import { LookupsService, wellFormed } from './lookups.service.js';

const known = 'a'.repeat(64);
const failed = 'b'.repeat(64);
const unknown = 'c'.repeat(64);
const seenAt = '2026-11-29T12:00:00.123456Z';

/** The service over fakes: a repository knowing two samples, a queue that takes jobs or refuses them. */
function setup(queueUp: boolean) {
  const written: SightingBatch[][] = [];
  const queued: JobItem[] = [];
  const stats: string[] = [];
  const repository = {
    findForLookup: (): Promise<LookupRead> =>
      Promise.resolve({
        seenAt,
        samples: [
          { sha256: known, objectKey: `k/${known}`, scanStatus: 'scanned', verdict: 'clean' },
          { sha256: failed, objectKey: `k/${failed}`, scanStatus: 'failed', verdict: null },
        ],
      }),
    recordSightings: (batches: SightingBatch[]) => {
      written.push(batches);
      return Promise.resolve(batches.reduce((n, b) => n + b.sha256s.length, 0));
    },
  } as unknown as SubmissionsRepository;
  const options: unknown[] = [];
  const queue = {
    add: (item: JobItem, _id: string, jobOptions: unknown) => {
      if (!queueUp)
        return Promise.reject(new SpecimenError('QUEUE_UNAVAILABLE', 'the job queue is unavailable'));
      queued.push(item);
      options.push(jobOptions);
      return Promise.resolve();
    },
  } as unknown as QueueProducer;
  const store = {
    stat: (key: string) => {
      stats.push(key);
      return Promise.resolve(null);
    },
  } as unknown as ObjectStore;
  const config = { stewardship: { retentionDays: 365 } } as Config;
  const principal = { pseudonym: 'p'.repeat(64), country: 'DE', productVersion: 'agent 1.0' } as Principal;
  const service = new LookupsService(config, repository, queue, store);
  const lookup = () =>
    service.lookup(
      { items: [{ sha256: known }, { sha256: failed.toUpperCase() }, { sha256: unknown }] },
      principal,
    );
  return { lookup, written, queued, options, stats, service, principal };
}

describe('LookupsService', () => {
  it('answers from the read and queues the sightings under the pseudonym, writing nothing itself', async () => {
    const { lookup, written, queued, stats } = setup(true);
    const answer = await lookup();
    assert.deepEqual(answer.items, [
      { sha256: known, known: true, wanted: false, verdict: 'clean' },
      { sha256: failed, known: true, wanted: true },
      { sha256: unknown, known: false, wanted: true },
    ]);
    // Only the sample whose scan failed is checked in storage.
    assert.deepEqual(stats, [`k/${failed}`]);
    assert.equal(written.length, 0);
    assert.deepEqual(queued, [
      {
        queue: 'sightings',
        name: 'lookup-sightings',
        data: {
          submitter: 'p'.repeat(64),
          country: 'DE',
          productVersion: 'agent 1.0',
          seenAt,
          sha256s: [known, failed],
        },
      },
    ]);
  });

  it('writes the same answer as JSON text as it gives as objects, malformed items included', async () => {
    const { service, principal } = setup(true);
    const body = {
      items: [
        { sha256: known },
        { sha256: 'x"\\'.repeat(3) },
        { size: 3 },
        { sha256: failed, kind: 'file', size: 10 },
        { sha256: unknown },
        { sha256: known.toUpperCase() },
      ],
    };
    const objects = await service.lookup(body, principal);
    const text = (await service.lookupJson(body, principal)).toString('utf8');
    assert.equal(text, JSON.stringify(objects));
    assert.deepEqual(JSON.parse(text), objects);
    assert.equal(objects.items.length, 6);
    assert.ok('error' in (objects.items[1] ?? {}) && 'error' in (objects.items[2] ?? {}));
  });

  it('keeps a sightings job that failed for good no longer than the retention period', async () => {
    const { lookup, options } = setup(true);
    await lookup();
    assert.deepEqual(options, [{ removeOnComplete: true, removeOnFail: { age: 365 * 86_400 } }]);
  });

  it('writes the sightings in the request when the queue refuses them', async () => {
    const { lookup, written, queued } = setup(false);
    const answer = await lookup();
    assert.equal(answer.items.length, 3);
    assert.equal(queued.length, 0);
    assert.deepEqual(written, [
      [
        {
          sha256s: [known, failed],
          submitter: { pseudonym: 'p'.repeat(64), country: 'DE', productVersion: 'agent 1.0' },
          seenAt,
        },
      ],
    ]);
  });
});

describe('wellFormed', () => {
  it('accepts only what LookupItem accepts, with the same lower-case sha256', () => {
    const hex = 'AbCdEf0123456789'.repeat(4);
    const cases: unknown[] = [
      { sha256: hex },
      { sha256: hex, size: 0, kind: 'file' },
      { sha256: hex, size: 12, kind: 'boot-record' },
      { sha256: hex.slice(1) },
      { sha256: `${hex}0` },
      { sha256: 'g'.repeat(64) },
      // A character beyond ASCII whose low byte is a hex digit (U+0161: 0x61, 'a').
      { sha256: `\u0161${hex.slice(1)}` },
      { sha256: `${hex.slice(1)}\u0130` },
      { sha256: hex, size: -1 },
      { sha256: hex, size: 1.5 },
      { sha256: hex, size: '3' },
      { sha256: hex, size: 2 ** 53 },
      { sha256: hex, kind: 'elephant' },
      { sha256: hex, extra: true },
      { sha256: 42 },
      { size: 3 },
      null,
      'not an object',
      [hex],
      Object.assign(Object.create(null) as object, { sha256: hex }),
    ];
    for (const item of cases) {
      const quick = wellFormed(item);
      const schema = LookupItem.safeParse(item);
      if (quick !== null) {
        assert.ok(schema.success, `accepted without zod but refused by it: ${JSON.stringify(item)}`);
        assert.equal(quick, schema.data.sha256);
      }
    }
    // The common forms do take the fast path.
    assert.equal(wellFormed({ sha256: hex }), hex.toLowerCase());
    assert.equal(wellFormed({ sha256: hex, size: 12, kind: 'file' }), hex.toLowerCase());
    assert.equal(wellFormed({ sha256: hex.toLowerCase() }), hex.toLowerCase());
    assert.equal(wellFormed({ sha256: `\u0161${hex.slice(1)}` }), null);
  });
});
