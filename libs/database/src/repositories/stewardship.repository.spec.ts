import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { dropDatabase } from '#test-support';
import { Database } from '../database.js';
import { sql } from '../drizzle.js';
import { StewardshipRepository, objectInUseQuery } from './stewardship.repository.js';

const url = `postgres://postgres@127.0.0.1:5432/specimen_stewtest_${randomBytes(5).toString('hex')}`;

/** The content-addressed key of `sha256`, as libs/storage's sampleKey makes it. */
const keyOf = (sha256: string): string => `samples/${sha256.slice(0, 2)}/${sha256.slice(2, 4)}/${sha256}`;

describe('StewardshipRepository.objectInUse', () => {
  let database: Database;
  let stewardship: StewardshipRepository;
  let known: string;

  before(async () => {
    database = await Database.connect({ url, poolMax: 2 });
    stewardship = new StewardshipRepository(database);
    // Enough samples that reading them all costs more than a probe of an index, as in production.
    await database.db.execute(
      sql`insert into samples (sha256, sha1, md5, size, kind, object_key)
          select h, left(h, 40), left(h, 32), 10, 'file',
                 'samples/' || substr(h, 1, 2) || '/' || substr(h, 3, 2) || '/' || h
          from (select encode(sha256(i::text::bytea), 'hex') as h from generate_series(1, 50000) i) x`,
    );
    await database.db.execute(sql`analyze samples`);
    const [row] = (await database.db.execute<{ sha256: string }>(sql`select sha256 from samples limit 1`))
      .rows;
    assert.ok(row !== undefined);
    known = row.sha256;
  });

  after(async () => {
    await database.close();
    await dropDatabase(url);
  });

  it('tells a key still referred to by a sample row from one that is not', async () => {
    assert.equal(await stewardship.objectInUse(keyOf(known)), true);
    assert.equal(await stewardship.objectInUse(keyOf('0'.repeat(64))), false);
    assert.equal(await stewardship.objectInUse('incoming/whatever'), false);
  });

  it('probes an index instead of reading every sample (it runs once per tombstone of a purge)', async () => {
    const plan = await database.db.execute<{ 'QUERY PLAN': unknown }>(
      sql`explain (format json) ${objectInUseQuery(keyOf(known))}`,
    );
    const text = JSON.stringify(plan.rows[0]?.['QUERY PLAN']);
    assert.ok(!text.includes('Seq Scan'), `a sequential scan of samples: ${text}`);
  });
});

describe('StewardshipRepository.rollupDay', () => {
  let database: Database;
  let stewardship: StewardshipRepository;

  before(async () => {
    database = await Database.connect({ url, poolMax: 2 });
    stewardship = new StewardshipRepository(database);
  });

  after(async () => {
    await database.close();
    await dropDatabase(url);
  });

  it('counts an agent with removed and remaining submissions on one day once', async () => {
    const day = '2020-03-01';
    const sha256 = randomBytes(32).toString('hex');
    await database.db.execute(
      sql`insert into samples (sha256, sha1, md5, size, kind, object_key)
          values (${sha256}, ${sha256.slice(0, 40)}, ${sha256.slice(0, 32)}, 10, 'file', ${keyOf(sha256)})`,
    );
    await database.db.execute(
      sql`insert into submissions (sample_sha256, kind, metadata, submitter, country, received_at)
          values (${sha256}, 'file', '{}'::jsonb, 'agent-p', 'DE', ${`${day}T12:00:00Z`}::timestamptz)`,
    );
    // What a purge batch leaves of another submission of the same agent that day (keepInStats).
    await database.db.execute(sql`insert into stats_salts (day) values (${day}::date)`);
    await database.db.execute(
      sql`insert into stats_removed (day, kind, verdict, country, product_version, agent, rules)
          select ${day}::date, 'file', 'pending', 'DE', 'unknown', 'removed:' || md5(salt::text || 'agent-p'), '{}'
          from stats_salts where day = ${day}::date`,
    );
    await stewardship.rollupDay(day, 1, false);
    assert.deepEqual(
      (await stewardship.cells('total', day, day)).map((c) => [c.submissions, c.agents]),
      [[2, 1]],
      'one agent, not two',
    );
  });

  it('counts what a purge kept of a day that was not final, and forgets it once the day is final', async () => {
    const day = '2020-02-29';
    await database.db.execute(sql`insert into stats_salts (day) values (${day}::date)`);
    for (const agent of ['removed:a', 'removed:b']) {
      await database.db.execute(
        sql`insert into stats_removed (day, kind, verdict, country, product_version, agent, rules)
            values (${day}::date, 'file', 'clean', 'DE', 'x 1', ${agent}, '{R}')`,
      );
    }
    assert.deepEqual(await stewardship.openDays().then((d) => d.includes(day)), true);
    await stewardship.rollupDay(day, 2, false);
    const cells = async () =>
      (await stewardship.cells('country', day, day)).map((c) => [c.value, c.submissions, c.agents]);
    assert.deepEqual(await cells(), [['DE', 2, 2]]);
    assert.deepEqual(
      (await stewardship.cells('rule', day, day)).map((c) => [c.value, c.submissions]),
      [['R', 2]],
    );
    await stewardship.rollupDay(day, 2, true);
    assert.deepEqual(await cells(), [['DE', 2, 2]], 'the final roll-up counted them');
    const left = await database.db.execute(
      sql`select 1 from stats_removed where day = ${day}::date union all
          select 1 from stats_salts where day = ${day}::date`,
    );
    assert.equal(left.rows.length, 0);
  });
});

describe('deleting the sightings of a sample (retention sweep, consent purge)', () => {
  let database: Database;

  before(async () => {
    database = await Database.connect({ url, poolMax: 2 });
  });

  after(async () => {
    await database.close();
    await dropDatabase(url);
  });

  const sighted = async (n: number): Promise<string> => {
    const sha256 = randomBytes(32).toString('hex');
    await database.db.execute(
      sql`insert into samples (sha256, sha1, md5, size, kind, object_key)
          values (${sha256}, ${sha256.slice(0, 40)}, ${sha256.slice(0, 32)}, 10, 'file', ${keyOf(sha256)})`,
    );
    await database.db.execute(
      sql`insert into submissions (sample_sha256, kind, metadata, submitter, country, source)
          select ${sha256}, 'file', '{}'::jsonb, 'agent-' || (i % 7), case when i % 2 = 0 then 'DE' else 'NL' end,
                 'lookup'
          from generate_series(1, ${n}) i`,
    );
    return sha256;
  };

  const countries = async (sha256: string): Promise<string[] | undefined> =>
    (
      await database.db.execute<{ countries: string[] }>(
        sql`select countries from samples where sha256 = ${sha256}`,
      )
    ).rows[0]?.countries;

  it('recounts the sample’s countries once per statement, not once per deleted row', async () => {
    const sha256 = await sighted(2000);
    assert.deepEqual(await countries(sha256), ['DE', 'NL']);
    const rollback = new Error('rollback');
    const plan = await database
      .transaction(async (tx) => {
        const result = await tx.execute<{ 'QUERY PLAN': unknown }>(
          sql`explain (analyze, format json) delete from submissions where sample_sha256 = ${sha256}`,
        );
        throw Object.assign(rollback, { plan: result.rows[0]?.['QUERY PLAN'] });
      })
      .catch((e: unknown) => {
        if (e !== rollback) throw e;
        return (rollback as Error & { plan: unknown }).plan;
      });
    const [top] = plan as { Triggers: { 'Trigger Name': string; Calls: number }[] }[];
    const calls = (top?.Triggers ?? [])
      .filter((t) => t['Trigger Name'].startsWith('submissions_'))
      .reduce((sum, t) => sum + t.Calls, 0);
    assert.ok(calls <= 1, `${calls} trigger calls for one DELETE of 2,000 sightings`);
  });

  it('keeps the countries of what is left right', async () => {
    const sha256 = await sighted(10);
    await database.db.execute(
      sql`delete from submissions where sample_sha256 = ${sha256} and country = 'NL'`,
    );
    assert.deepEqual(await countries(sha256), ['DE']);
    await database.db.execute(sql`update submissions set country = 'FR' where sample_sha256 = ${sha256}`);
    assert.deepEqual(await countries(sha256), ['FR']);
    await database.db.execute(sql`delete from submissions where sample_sha256 = ${sha256}`);
    assert.deepEqual(await countries(sha256), []);
  });
});
