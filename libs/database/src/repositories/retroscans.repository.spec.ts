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
    // The first batch's rules instant stays: every batch passes that one on. The last batch ends the
    // batches, not the retro-scan: it checks its scans from the start.
    assert.deepEqual(
      { cursor: row?.cursor, status: row?.status, rulesAsOf: row?.rulesAsOf },
      { cursor: null, status: 'checking', rulesAsOf },
    );
    assert.equal(await retroscans.advance(key, { ...second, from: null }), false, 'once checking');
    assert.equal(await retroscans.advance(key, second), false, 'the last batch twice');
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

  it('goes on checking after its last batch, then ends done from a check step; a step recorded once', async () => {
    const key = 'retroscan-checks';
    await retroscans.create({ key, rulesetId, until: new Date() });
    const rulesAsOf = new Date();
    assert.ok(await retroscans.advance(key, { from: null, to: 'a'.repeat(64), rulesAsOf, last: true }));
    // Every scan queued: checking from the start, not done.
    assert.deepEqual(await retroscans.find(key).then((r) => ({ status: r?.status, cursor: r?.cursor })), {
      status: 'checking',
      cursor: null,
    });
    const step = { from: null, to: 'b'.repeat(64), done: false };
    assert.equal(await retroscans.checked(key, step), true);
    assert.equal(await retroscans.checked(key, step), false, 'the same step twice');
    await quietFor('retroscans', 'key', key, 600);
    const quiet = await retroscans.quietSince(new Date(Date.now() - 60_000), 10);
    assert.deepEqual(
      quiet.filter((r) => r.key === key).map((r) => [r.status, r.cursor]),
      [['checking', 'b'.repeat(64)]],
      'a quiet check is a candidate for the re-drive',
    );
    assert.equal(
      await retroscans.checked(key, { from: 'b'.repeat(64), to: 'c'.repeat(64), done: true }),
      true,
    );
    const [row] = await query<{ status: string; cursor: string; finished: boolean }>(
      url,
      'select status, cursor, finished_at is not null as finished from retroscans where key = $1',
      [key],
    );
    assert.deepEqual(row, { status: 'done', cursor: 'c'.repeat(64), finished: true });
    assert.equal(
      await retroscans.checked(key, { from: 'c'.repeat(64), to: 'c'.repeat(64), done: true }),
      false,
    );
    // Another version activated meanwhile: a checking one is superseded and checks no more.
    const other = 'retroscan-checks-superseded';
    await retroscans.create({ key: other, rulesetId, until: new Date() });
    await retroscans.advance(other, { from: null, to: null, rulesAsOf, last: true });
    await retroscans.supersede(other);
    assert.equal((await retroscans.find(other))?.status, 'superseded');
    assert.equal(await retroscans.checked(other, { from: null, to: null, done: true }), false);
  });

  it('tells which covered samples have a scan under the ruleset since the rules instant (a failed one too)', async () => {
    const other = await database.transaction((tx) =>
      new RulesetsRepository(database).create(
        {
          name: 'other',
          source: 'rule o { condition: true }',
          ruleCount: 1,
          diagnostics: [],
          quarantined: [],
          createdBy: null,
        },
        tx,
      ),
    );
    const rulesAsOf = new Date(Date.now() - 3_600_000);
    const sha = (c: string) => `f${c}`.padEnd(64, '0');
    // f1: scanned since, f2: failed since, f3: scanned before the instant, f4: under another ruleset,
    // f5: never; f6 first seen after `until`, f7 past retention: not covered.
    for (const c of ['1', '2', '3', '4', '5', '6', '7']) {
      await query(
        url,
        `insert into samples (sha256, sha1, md5, size, kind, object_key, first_seen, last_seen)
         values ($1, $2, $3, 10, 'file', $4, now() - $5::interval, now() - $6::interval)`,
        [
          sha(c),
          'a'.repeat(40),
          'b'.repeat(32),
          `samples/${sha(c)}`,
          c === '6' ? '1 minute' : '2 days',
          c === '7' ? '400 days' : '0',
        ],
      );
    }
    const scan = (c: string, ruleset: string, status: string, startedAt: string) =>
      query(
        url,
        `insert into scans (sample_sha256, ruleset_id, status, duration_ms, started_at)
         values ($1, $2, $3, 1, $4::timestamptz)`,
        [sha(c), ruleset, status, startedAt],
      );
    const since = new Date(rulesAsOf.getTime() + 1000).toISOString();
    await scan('1', rulesetId, 'scanned', since);
    await scan('2', rulesetId, 'failed', since);
    await scan('3', rulesetId, 'scanned', new Date(rulesAsOf.getTime() - 1000).toISOString());
    await scan('4', other.id, 'scanned', since);
    const options = {
      rulesetId,
      rulesAsOf,
      until: new Date(Date.now() - 3_600_000),
      seenSince: new Date(Date.now() - 365 * 86_400_000),
    };
    const all = await retroscans.checkBatch({ ...options, after: sha('0'), limit: 10 });
    assert.deepEqual(
      all.filter((s) => s.sha256.startsWith('f')),
      [
        { sha256: sha('1'), scanned: true },
        { sha256: sha('2'), scanned: true },
        { sha256: sha('3'), scanned: false },
        { sha256: sha('4'), scanned: false },
        { sha256: sha('5'), scanned: false },
      ],
    );
    // In sha256 order after the cursor, `limit` at most.
    assert.deepEqual(
      (await retroscans.checkBatch({ ...options, after: sha('2'), limit: 2 })).map((s) => s.sha256),
      [sha('3'), sha('4')],
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
