import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { dropDatabase } from '#test-support';
import { Database } from '../database.js';
import { sql } from '../drizzle.js';
import { StewardshipRepository, objectInUseQuery } from './stewardship.repository.js';

/** A PSEUDONYM_KEY for the tests. */
const KEY = 'stewardship-spec-key-0123456789abcdef';

const url = `postgres://postgres@127.0.0.1:5432/specimen_stewtest_${randomBytes(5).toString('hex')}`;

/** The content-addressed key of `sha256`, as libs/storage's sampleKey makes it. */
const keyOf = (sha256: string): string => `samples/${sha256.slice(0, 2)}/${sha256.slice(2, 4)}/${sha256}`;

describe('StewardshipRepository.objectInUse', () => {
  let database: Database;
  let stewardship: StewardshipRepository;
  let known: string;

  before(async () => {
    database = await Database.connect({ url, poolMax: 2 });
    stewardship = new StewardshipRepository(database, KEY);
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
    stewardship = new StewardshipRepository(database, KEY);
  });

  after(async () => {
    await database.close();
    await dropDatabase(url);
  });

  /** A new sample with one submission of `submitter` at noon (UTC) on `day`. */
  const submittedOn = async (
    day: string,
    submitter: string,
    then: { country?: string; productVersion?: string } = {},
  ): Promise<void> => {
    const sha256 = randomBytes(32).toString('hex');
    await database.db.execute(
      sql`insert into samples (sha256, sha1, md5, size, kind, object_key)
          values (${sha256}, ${sha256.slice(0, 40)}, ${sha256.slice(0, 32)}, 10, 'file', ${keyOf(sha256)})`,
    );
    await database.db.execute(
      sql`insert into submissions (sample_sha256, kind, metadata, submitter, country, product_version, received_at)
          values (${sha256}, 'file', '{}'::jsonb, ${submitter}, ${then.country ?? null}, ${then.productVersion ?? null},
                  ${`${day}T12:00:00Z`}::timestamptz)`,
    );
  };

  it('counts an agent with removed and remaining submissions on one day once, under a secret the database does not hold', async () => {
    const day = '2020-03-03';
    await submittedOn(day, 'agent-q', { country: 'DE' });
    await submittedOn(day, 'agent-q', { country: 'DE' });
    // The retention sweep takes the first of the two samples; the agent's other submission that day stays.
    const [first] = (
      await database.db.execute<{ sha256: string }>(
        sql`select sample_sha256 as sha256 from submissions
            where submitter = 'agent-q' order by id limit 1`,
      )
    ).rows;
    await database.db.execute(
      sql`update samples set last_seen = '2020-01-01T00:00:00Z' where sha256 = ${first?.sha256 ?? ''}`,
    );
    const swept = await stewardship.retentionBatch(new Date('2020-02-01T00:00:00Z'), 10);
    assert.equal(swept.samplesDeleted, 1);
    const removed = await database.db.execute<{ agent: string; salt: string | null }>(
      sql`select r.agent, st.salt from stats_removed r join stats_salts st on st.day = r.day
          where r.day = ${day}::date`,
    );
    assert.equal(removed.rows.length, 1);
    assert.equal(removed.rows[0]?.salt, null, 'no salt stored beside the removed row');
    assert.match(removed.rows[0]?.agent ?? '', /^removed:[0-9a-f]{64}$/);
    await stewardship.rollupDay(day, 1, false);
    assert.deepEqual(
      (await stewardship.cells('total', day, day)).map((c) => [c.submissions, c.agents]),
      [[2, 1]],
      'one agent, not two',
    );
    // Under another key the remaining submission's agent is not the removed row's: the key names them.
    await new StewardshipRepository(database, `${KEY}-other`).rollupDay(day, 1, false);
    assert.deepEqual(
      (await stewardship.cells('total', day, day)).map((c) => [c.submissions, c.agents]),
      [[2, 2]],
    );
  });

  it('counts an agent with removed and remaining submissions on one day once (a day salted before 0026)', async () => {
    const day = '2020-03-01';
    await submittedOn(day, 'agent-p', { country: 'DE' });
    // What a purge batch left of another submission of the same agent that day, when days had a salt.
    await database.db.execute(
      sql`insert into stats_salts (day, salt) values (${day}::date, gen_random_uuid())`,
    );
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

  it("folds small values into (other) by their text, U+001F and all: the cells add up to the day's total", async () => {
    const day = '2020-03-02';
    // One agent a product version, three submissions each; one version holds the separator the statement
    // once split the suppressed values by (enrolled before labels refused control characters).
    const versions = ['1.0', '1.1', '2.0\u001fbeta', '3.0'];
    for (const [i, version] of versions.entries()) {
      for (let n = 0; n < 3; n++) await submittedOn(day, `agent-v${i}`, { productVersion: version });
    }
    await stewardship.rollupDay(day, 2, false);
    const [total] = await stewardship.cells('total', day, day);
    const cells = await stewardship.cells('productVersion', day, day);
    assert.deepEqual(
      cells.map((c) => [c.value, c.submissions, c.agents]),
      [['(other)', 12, 4]],
    );
    assert.equal(total?.submissions, 12);
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

describe('StewardshipRepository.retentionBatch', () => {
  let database: Database;
  let stewardship: StewardshipRepository;

  before(async () => {
    database = await Database.connect({ url, poolMax: 2 });
    stewardship = new StewardshipRepository(database, KEY);
    // Every update of a sample row, counted by a trigger of this test's own.
    await database.db.execute(sql`create table sample_updates (sha256 char(64) not null)`);
    await database.db.execute(
      sql.raw(`create function count_sample_update() returns trigger language plpgsql as $$
               begin insert into sample_updates values (new.sha256); return null; end; $$`),
    );
    await database.db.execute(
      sql`create trigger count_sample_update after update on samples
          for each row execute function count_sample_update()`,
    );
  });

  after(async () => {
    await database.close();
    await dropDatabase(url);
  });

  /** A sample last sighted at `seen` by `n` submissions from DE and NL. */
  const sighted = async (seen: string, n: number): Promise<string> => {
    const sha256 = randomBytes(32).toString('hex');
    await database.db.execute(
      sql`insert into samples (sha256, sha1, md5, size, kind, object_key, first_seen, last_seen)
          values (${sha256}, ${sha256.slice(0, 40)}, ${sha256.slice(0, 32)}, 10, 'file', ${keyOf(sha256)},
                  ${seen}::timestamptz, ${seen}::timestamptz)`,
    );
    await database.db.execute(
      sql`insert into submissions (sample_sha256, kind, metadata, submitter, country, received_at)
          select ${sha256}, 'file', '{}'::jsonb, 'agent-' || i, case when i % 2 = 0 then 'DE' else 'NL' end,
                 ${seen}::timestamptz
          from generate_series(1, ${n}) i`,
    );
    return sha256;
  };

  const rows = async (query: ReturnType<typeof sql>): Promise<string[]> =>
    (await database.db.execute<{ v: string }>(query)).rows.map((r) => r.v).sort();

  it('deletes expired samples with their submissions, never rewriting a row it deletes', async () => {
    const expired = [await sighted('2019-05-01T10:00:00Z', 3), await sighted('2019-05-02T10:00:00Z', 4)];
    const fresh = await sighted(new Date().toISOString(), 2);
    assert.deepEqual(await rows(sql`select array_to_string(countries, ',') as v from samples`), [
      'DE,NL',
      'DE,NL',
      'DE,NL',
    ]);
    await database.db.execute(sql`truncate sample_updates`);
    // A finished resumable upload of an expired sample and of the fresh one, and one still under way.
    for (const [sha256, finished] of [
      [expired[0], true],
      [fresh, true],
      [null, false],
    ] as const) {
      await database.db.execute(
        sql`insert into uploads (created_by, length, "offset", metadata, raw_metadata, expires_at, completed_at,
                                 submission_id)
            values (gen_random_uuid(), 10, 10, '{"kind":"file"}'::jsonb, '', now() + interval '1 day',
                    ${finished ? sql`now()` : null},
                    ${sha256 === null ? null : sql`(select id from submissions where sample_sha256 = ${sha256} limit 1)`})`,
      );
    }

    const outcome = await stewardship.retentionBatch(new Date('2020-01-01T00:00:00Z'), 100);

    assert.deepEqual(outcome, { samples: 2, submissionsDeleted: 7, samplesDeleted: 2, samplesKept: 0 });
    assert.deepEqual(await rows(sql`select sha256 as v from sample_updates`), [], 'no sample row updated');
    assert.deepEqual(await rows(sql`select sha256 as v from samples`), [fresh]);
    assert.deepEqual(await rows(sql`select distinct sample_sha256 as v from submissions`), [fresh]);
    // The expired sample's finished upload goes with it (its row names the key that sent it); others stay.
    assert.deepEqual(
      await rows(sql`select coalesce(s.sample_sha256, 'under way') as v from uploads u
                     left join submissions s on s.id = u.submission_id`),
      [fresh, 'under way'].sort(),
    );
    assert.deepEqual(
      await rows(sql`select object_key as v from object_tombstones`),
      expired.map(keyOf).sort(),
    );
    assert.deepEqual(
      await rows(sql`select day::text || ' ' || country as v from stats_removed`),
      [
        '2019-05-01 DE',
        '2019-05-01 NL',
        '2019-05-01 NL',
        '2019-05-02 DE',
        '2019-05-02 DE',
        '2019-05-02 NL',
        '2019-05-02 NL',
      ],
      'what the statistics need of the deleted submissions is kept',
    );
    assert.deepEqual(await stewardship.retentionBatch(new Date('2020-01-01T00:00:00Z'), 100), {
      samples: 0,
      submissionsDeleted: 0,
      samplesDeleted: 0,
      samplesKept: 0,
    });
  });

  it('purges an agent: deletes what it alone sent without rewriting it first, rewrites what stays', async () => {
    const agent = `ps-${randomBytes(4).toString('hex')}`;
    await database.db.execute(
      sql`insert into agents (pseudonym, product_name, product_version, os_family, os_version, participating,
                              consent_revoked_at)
          values (${agent}, 'test', '1', 'linux', '6', false, now())`,
    );
    const seen = new Date(Date.now() - 3_600_000).toISOString();
    // Two samples sent by the agent alone, one sent by it and by agent-1 and agent-2 (sighted() names them;
    // its rows count one sighting whatever their submissions, so the shared one ends at the floor of 1).
    const alone = [await sighted(seen, 0), await sighted(seen, 0)];
    const shared = await sighted(seen, 2);
    for (const sha256 of [...alone, shared]) {
      await database.db.execute(
        sql`insert into submissions (sample_sha256, kind, metadata, submitter, country, received_at)
            values (${sha256}, 'file', '{}'::jsonb, ${agent}, 'FR', ${seen}::timestamptz)`,
      );
    }
    await database.db.execute(sql`truncate sample_updates`);
    await database.db.execute(sql`truncate object_tombstones`);

    const outcome = await stewardship.purgeBatch(agent, 100);

    assert.deepEqual(outcome, { samples: 3, submissionsDeleted: 3, samplesDeleted: 2, samplesKept: 1 });
    const updated = await rows(sql`select sha256 as v from sample_updates`);
    assert.ok(updated.length > 0, 'the shared sample is rewritten (countries, sightings)');
    assert.deepEqual([...new Set(updated)], [shared], 'no row it deletes is rewritten first');
    assert.deepEqual(
      await rows(sql`select array_to_string(countries, ',') || ' ' || sightings as v from samples
                     where sha256 = ${shared}`),
      ['DE,NL 1'],
    );
    assert.deepEqual(
      await rows(sql`select sha256 as v from samples where sha256 in (${alone[0]}, ${alone[1]})`),
      [],
    );
    assert.deepEqual(await rows(sql`select object_key as v from object_tombstones`), alone.map(keyOf).sort());
    assert.deepEqual(
      await rows(sql`select submitter as v from submissions where sample_sha256 = ${shared}`),
      ['agent-1', 'agent-2'],
    );
  });
});

describe('StewardshipRepository.forgetRevokedAgents', () => {
  let database: Database;
  let stewardship: StewardshipRepository;
  const cutoff = new Date(Date.now() - 365 * 86_400_000);
  const longAgo = new Date(cutoff.getTime() - 30 * 86_400_000).toISOString();
  const lately = new Date(Date.now() - 10 * 86_400_000).toISOString();

  before(async () => {
    database = await Database.connect({ url, poolMax: 2 });
    stewardship = new StewardshipRepository(database, KEY);
  });

  after(async () => {
    await database.close();
    await dropDatabase(url);
  });

  /** An enrolled agent with one key, revoked at `revokedAt` (both), or not; returns its pseudonym. */
  const agent = async (name: string, revokedAt: string | null): Promise<string> => {
    const pseudonym = `${name}-${randomBytes(4).toString('hex')}`;
    const [row] = (
      await database.db.execute<{ id: string }>(
        sql`insert into agents (pseudonym, product_name, product_version, os_family, os_version, country,
                                revoked_at)
            values (${pseudonym}, 'edr', '1.0', 'windows', '11', 'DE', ${revokedAt}::timestamptz)
            returning id`,
      )
    ).rows;
    await database.db.execute(
      sql`insert into api_tokens (name, role, token_hash, agent_id, revoked_at)
          values (${name}, 'agent', ${randomBytes(32).toString('hex')}, ${row?.id}, ${revokedAt}::timestamptz)`,
    );
    return pseudonym;
  };

  const remaining = async (pseudonyms: string[]): Promise<string[]> =>
    (
      await database.db.execute<{ pseudonym: string }>(
        sql`select a.pseudonym from agents a join api_tokens t on t.agent_id = a.id
            where a.pseudonym = any(${sql.param(pseudonyms)}::text[]) order by a.pseudonym`,
      )
    ).rows.map((r) => r.pseudonym);

  it('deletes agents revoked before the cutoff of whom nothing remains, with their keys, and no others', async () => {
    const forgotten = await agent('a-forgotten', longAgo);
    const submitted = await agent('b-submitted', longAgo);
    const recent = await agent('c-recent', lately);
    const active = await agent('d-active', null);
    const uploading = await agent('e-uploading', longAgo);
    const sha256 = randomBytes(32).toString('hex');
    await database.db.execute(
      sql`insert into samples (sha256, sha1, md5, size, kind, object_key)
          values (${sha256}, ${sha256.slice(0, 40)}, ${sha256.slice(0, 32)}, 10, 'file', ${keyOf(sha256)})`,
    );
    await database.db.execute(
      sql`insert into submissions (sample_sha256, kind, metadata, submitter, received_at)
          values (${sha256}, 'file', '{}'::jsonb, ${submitted}, ${longAgo}::timestamptz)`,
    );
    await database.db.execute(
      sql`insert into uploads (created_by, length, metadata, raw_metadata, expires_at)
          select t.id, 100, '{}'::jsonb, '', now() + interval '1 day'
          from api_tokens t join agents a on a.id = t.agent_id where a.pseudonym = ${uploading}`,
    );
    const all = [forgotten, submitted, recent, active, uploading];

    assert.equal(await stewardship.forgetRevokedAgents(cutoff, 100), 1);
    assert.deepEqual(await remaining(all), [submitted, recent, active, uploading].sort());
    const keys = await database.db.execute<{ n: number }>(
      sql`select count(*)::int as n from api_tokens where name = 'a-forgotten'`,
    );
    assert.equal(keys.rows[0]?.n, 0, 'its key row went with it');
    // Once its submission is gone, the agent that had one goes too; nothing else moves.
    await database.db.execute(sql`delete from submissions where submitter = ${submitted}`);
    assert.equal(await stewardship.forgetRevokedAgents(cutoff, 100), 1);
    assert.deepEqual(await remaining(all), [recent, active, uploading].sort());
    assert.equal(await stewardship.forgetRevokedAgents(cutoff, 100), 0);
  });

  it('deletes at most `limit` agents a call, the longest revoked first', async () => {
    const first = await agent('f-first', new Date(cutoff.getTime() - 90 * 86_400_000).toISOString());
    const second = await agent('g-second', longAgo);
    assert.equal(await stewardship.forgetRevokedAgents(cutoff, 1), 1);
    assert.deepEqual(await remaining([first, second]), [second]);
    assert.equal(await stewardship.forgetRevokedAgents(cutoff, 1), 1);
    assert.deepEqual(await remaining([first, second]), []);
  });
});
