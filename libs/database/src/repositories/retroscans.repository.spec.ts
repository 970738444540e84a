import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { dropDatabase, query } from '#test-support';
import { Database } from '../database.js';
import { RetrohuntsRepository } from './retrohunts.repository.js';
import { RetroscansRepository } from './retroscans.repository.js';
import { RulesetsRepository } from './rulesets.repository.js';

const url = `postgres://postgres@127.0.0.1:5432/specimen_retroscantest_${randomBytes(5).toString('hex')}`;

describe('retro chains: progress a lost batch job is put back from', () => {
  let database: Database;
  let retroscans: RetroscansRepository;
  let retrohunts: RetrohuntsRepository;
  let rulesetId = '';

  before(async () => {
    database = await Database.connect({ url, poolMax: 2 });
    retroscans = new RetroscansRepository(database);
    retrohunts = new RetrohuntsRepository(database);
    const rulesets = new RulesetsRepository(database);
    const made = await database.transaction((tx) =>
      rulesets.create(
        {
          name: 'r',
          source: 'rule r { condition: true }',
          ruleCount: 1,
          diagnostics: [],
          quarantined: [],
          createdBy: null,
        },
        tx,
      ),
    );
    rulesetId = made.id;
  });
  after(async () => {
    await database.close();
    await dropDatabase(url);
  });

  /** Moves a row's last progress `seconds` back, as if its chain had been quiet that long. */
  const quietFor = async (table: 'retroscans' | 'retrohunts', column: string, id: string, seconds: number) =>
    query(url, `update ${table} set progressed_at = now() - make_interval(secs => $2) where ${column} = $1`, [
      id,
      seconds,
    ]);

  it('records a retro-scan batch once: a second run of it, or a stale one, records nothing', async () => {
    const key = 'retroscan-once';
    await retroscans.create({ key, rulesetId, until: new Date() });
    // The same activation's row again (the outbox's and a replay's): one row, unchanged.
    await retroscans.create({ key, rulesetId, until: new Date(0), cursor: 'z'.repeat(64) });
    const rulesAsOf = new Date('2026-11-30T12:00:00.000Z');
    const first = { from: null, to: 'a'.repeat(64), rulesAsOf, last: false };
    assert.equal(await retroscans.advance(key, first), true);
    assert.equal(await retroscans.advance(key, first), false, 'the same batch twice');
    const second = { from: 'a'.repeat(64), to: 'b'.repeat(64), rulesAsOf: new Date(), last: true };
    assert.equal(await retroscans.advance(key, second), true);
    const row = await retroscans.find(key);
    // The first batch's rules instant stays: every batch passes that one on.
    assert.deepEqual(
      { cursor: row?.cursor, status: row?.status, rulesAsOf: row?.rulesAsOf },
      { cursor: 'b'.repeat(64), status: 'done', rulesAsOf },
    );
    assert.equal(await retroscans.advance(key, { ...second, from: 'b'.repeat(64) }), false, 'once done');
  });

  it('finds running retro-scans quiet since a given time, not finished or recently moved ones', async () => {
    for (const key of ['quiet', 'moving', 'superseded']) {
      await retroscans.create({ key, rulesetId, until: new Date(), rule: 'R' });
    }
    await retroscans.supersede('superseded');
    await quietFor('retroscans', 'key', 'quiet', 600);
    await quietFor('retroscans', 'key', 'superseded', 600);
    const found = await retroscans.quietSince(new Date(Date.now() - 60_000), 10);
    assert.deepEqual(
      found.map((r) => [r.key, r.rule, r.cursor]),
      [['quiet', 'R', null]],
    );
  });

  it('finds unfinished retrohunts quiet since a given time; starting or recording a batch is moving', async () => {
    const make = () =>
      retrohunts.create(
        { source: 'rule R { condition: true }', sourceSha256: 'a'.repeat(64), ruleCount: 1, createdBy: null },
        new Date(0),
      );
    const [queued, running, cancelled] = [await make(), await make(), await make()];
    await retrohunts.finish(cancelled.id, 'cancelled');
    for (const hunt of [queued, running, cancelled]) await quietFor('retrohunts', 'id', hunt.id, 600);
    const olderThan = new Date(Date.now() - 60_000);
    const ids = async () => (await retrohunts.quietSince(olderThan, 10)).map((h) => h.id).sort();
    assert.deepEqual(await ids(), [queued.id, running.id].sort());
    assert.ok(await retrohunts.start(running.id));
    assert.deepEqual(await ids(), [queued.id]);
    await quietFor('retrohunts', 'id', running.id, 600);
    await retrohunts.recordBatch(running.id, {
      from: null,
      to: 'c'.repeat(64),
      scanned: 1,
      bytes: 1,
      matches: [],
    });
    assert.deepEqual(await ids(), [queued.id]);
    await quietFor('retrohunts', 'id', running.id, 600);
    assert.deepEqual(
      await retrohunts.quietSince(olderThan, 10).then((l) => l.find((h) => h.id === running.id)),
      {
        id: running.id,
        cursor: 'c'.repeat(64),
      },
    );
  });
});
