import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { Config } from '#config';
import { type Principal, SubmissionMetadata } from '#contracts';
import { Database, StewardshipRepository, SubmissionsRepository } from '#database';
import { SpecimenMetrics } from '#observability';
import type { QueueProducer } from '#queue';
import { type ObjectStore, createObjectStore, incomingKey, sampleKey } from '#storage';
import { dropDatabase } from '#test-support';
import { SubmissionsService } from './submissions.service.js';

const url = `postgres://postgres@127.0.0.1:5432/specimen_tombtest_${randomBytes(5).toString('hex')}`;

const digest = (algorithm: string, bytes: Buffer): string =>
  createHash(algorithm).update(bytes).digest('hex');

/**
 * A re-upload of the bytes of a sample that a purge or sweep has just deleted (its row gone, its object
 * left as a tombstone): the stewardship jobs' tombstone drain runs between the upload's promotion of its
 * object and its database write, the order that loses the bytes if anything does.
 */
describe('an upload racing the tombstone drain of the same sample', () => {
  let database: Database;
  let dir: string;
  let store: ObjectStore;
  let stewardship: StewardshipRepository;

  before(async () => {
    database = await Database.connect({ url, poolMax: 4 });
    dir = await mkdtemp(join(tmpdir(), 'specimen-tombtest-'));
    store = await createObjectStore(pathToFileURL(dir).href);
    stewardship = new StewardshipRepository(database, 'tombstone-spec-key-0123456789abcdef');
  });

  after(async () => {
    await database.close();
    await dropDatabase(url);
    await rm(dir, { recursive: true, force: true });
  });

  /** The stewardship jobs' drain of every tombstone (StewardshipJobs.drainTombstones). */
  const drain = async (): Promise<void> => {
    for (const key of await stewardship.tombstones(100)) {
      await stewardship.drainTombstone(key, () => store.delete(key));
    }
  };

  it('never leaves a sample row whose object is gone', async () => {
    const bytes = randomBytes(3000);
    const sha256 = digest('sha256', bytes);
    const key = sampleKey(sha256);
    // What a sweep that committed and has not drained yet leaves: the object, a tombstone, no row.
    await store.put(key, Readable.from([bytes]));
    await database.rawQuery({
      text: 'insert into object_tombstones (object_key) values ($1)',
      values: [key],
    });

    const racing: ObjectStore = Object.assign(Object.create(store) as ObjectStore, {
      promote: async (from: string, to: string, options?: { keepSource?: boolean }) => {
        const outcome = await store.promote(from, to, options);
        await drain();
        return outcome;
      },
    });
    const queue = { add: () => Promise.resolve() } as unknown as QueueProducer;
    const service = new SubmissionsService(
      racing,
      new SubmissionsRepository(database),
      queue,
      new SpecimenMetrics('api'),
      { stewardship: { retentionDays: 365 } } as Pick<Config, 'stewardship'>,
    );
    const tempKey = incomingKey(randomUUID());
    await store.put(tempKey, Readable.from([bytes]));
    const metadata = SubmissionMetadata.parse({ kind: 'file', sha256, size: bytes.length });
    const principal: Principal = { tokenId: randomUUID(), role: 'admin', name: 'admin', pseudonym: 'person' };
    const outcome = await service
      .accept(
        {
          tempKey,
          digests: {
            sha256,
            sha1: digest('sha1', bytes),
            md5: digest('md5', bytes),
            size: bytes.length,
          },
          metadata,
        },
        principal,
      )
      .catch((e: unknown) => e);

    assert.ok(!(outcome instanceof Error), String(outcome));
    const rows = await database.rawQuery({
      text: 'select 1 from samples where sha256 = $1',
      values: [sha256],
    });
    assert.equal(rows.rows.length, 1, 'the upload is accepted');
    assert.ok((await store.stat(key)) !== null, 'the accepted sample row points at a deleted object');
    const left: string[] = [];
    for await (const o of store.list('incoming/')) left.push(o.key);
    assert.deepEqual(left, [], 'no temporary object is left');
  });
});
