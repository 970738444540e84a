import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { dropDatabase, query, recordSample } from '#test-support';
import { Database } from '../database.js';
import { RetrohuntsRepository } from './retrohunts.repository.js';

const url = `postgres://postgres@127.0.0.1:5432/specimen_retrohunttest_${randomBytes(5).toString('hex')}`;

describe('RetrohuntsRepository: the counts of a finished hunt', () => {
  let database: Database;
  let hunts: RetrohuntsRepository;

  before(async () => {
    database = await Database.connect({ url, poolMax: 2 });
    hunts = new RetrohuntsRepository(database);
  });
  after(async () => {
    await database.close();
    await dropDatabase(url);
  });

  const match = (sampleSha256: string) => ({
    sampleSha256,
    rule: 'R',
    namespace: 'retrohunt',
    tags: [],
    meta: {},
    strings: [],
  });

  it('end as what the hunt went through: samples deleted meanwhile and their matches are not counted', async () => {
    const samples = [
      await recordSample(database),
      await recordSample(database),
      await recordSample(database),
    ];
    const hunt = await hunts.create(
      {
        source: 'rule R { condition: true }',
        sourceSha256: 'a'.repeat(64),
        ruleCount: 1,
        createdBy: null,
      },
      new Date(0),
    );
    const before = hunt.total;
    assert.ok(before >= 3);
    assert.ok(await hunts.start(hunt.id));
    const [first, second, third] = samples as [string, string, string];
    const one = await hunts.recordBatch(hunt.id, {
      from: null,
      to: first,
      scanned: before - 2,
      timedOut: 1,
      bytes: 10,
      matches: [match(first), match(second)],
    });
    assert.equal(one?.matchCount, 2);
    // A consent purge deletes the second sample (and its match, by cascade) before the hunt reaches it.
    await query(url, 'delete from samples where sha256 = $1', [second]);
    const last = await hunts.recordBatch(hunt.id, {
      from: first,
      to: third,
      scanned: 1,
      timedOut: 1,
      bytes: 5,
      matches: [match(third)],
      last: true,
    });
    assert.deepEqual(last, { scanned: before - 1, bytes: 15, matchCount: 2 });
    const done = await hunts.findSummary(hunt.id);
    assert.equal(done?.status, 'done');
    assert.deepEqual([done?.scanned, done?.total, done?.bytes], [before - 1, before - 1, 15]);
    assert.equal(done?.matchCount, 2);
    assert.equal(done?.timedOut, 2, 'the scans that ran out of time, counted');
  });

  it('leave out samples past the retention cutoff, in the total and in the batches', async () => {
    const fresh = await recordSample(database);
    const expired = await recordSample(database);
    await query(url, `update samples set last_seen = now() - interval '400 days' where sha256 = $1`, [
      expired,
    ]);
    const cutoff = new Date(Date.now() - 365 * 86_400_000);
    const counted = (
      await query<{ n: number }>(url, 'select count(*)::int as n from samples where last_seen >= $1', [
        cutoff,
      ])
    )[0]?.n;
    const hunt = await hunts.create(
      { source: 'rule R { condition: true }', sourceSha256: 'b'.repeat(64), ruleCount: 1, createdBy: null },
      cutoff,
    );
    assert.equal(hunt.total, counted);
    const listed = (await hunts.samplesAfter({ until: new Date(), seenSince: cutoff, limit: 100_000 })).map(
      (s) => s.sha256,
    );
    assert.ok(listed.includes(fresh));
    assert.ok(!listed.includes(expired), 'an expired sample is served to no one, retrohunts included');
    assert.equal(listed.length, counted);
  });
});
