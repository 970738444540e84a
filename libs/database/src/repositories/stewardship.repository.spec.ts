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
