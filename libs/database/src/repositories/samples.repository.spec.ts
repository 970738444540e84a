import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { isoMillis } from './samples.repository.js';

describe('isoMillis', () => {
  it('writes what Date#toISOString makes of a timestamptz text, without a Date in UTC', () => {
    for (const text of [
      '2026-10-01 12:34:56.123456+00',
      '2026-10-01 12:34:56.999999+00',
      '2026-10-01 12:34:56.1+00',
      '2026-10-01 12:34:56.01+00',
      '2026-10-01 12:34:56+00',
      '1000-01-01 00:00:00.000001+00',
      '9999-12-31 23:59:59.999999+00',
      // Not UTC, or outside four-digit years: through Date, as before.
      '2026-10-01 12:34:56.123456+02',
      '2026-10-01 12:34:56.5-09:30',
      '0999-06-01 00:00:00+00',
    ]) {
      assert.equal(isoMillis(text), new Date(text).toISOString(), text);
    }
  });

  it('agrees with Date on the texts PostgreSQL sends, in UTC and at another offset', async () => {
    const client = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
    await client.connect();
    try {
      for (const zone of ['UTC', 'Etc/GMT-3']) {
        await client.query(`set time zone '${zone}'`);
        const { rows } = await client.query<{ t: string }>({
          // Microseconds spread over the four-digit years, whole seconds and whole milliseconds among them.
          text: `select (case i % 3 when 0 then date_trunc('second', t) when 1 then date_trunc('milliseconds', t)
                          else t end)::text as t
                 from (select i, timestamptz '1000-01-01 00:00:00+00'
                                 + random() * 9000 * 365.25 * interval '1 day' as t
                       from generate_series(1, 3000) i) g
                 union all select (timestamptz '2026-03-04 05:06:07.12+00')::text`,
          types: { getTypeParser: () => (value: string) => value },
        });
        assert.equal(rows.length, 3001);
        for (const { t } of rows) assert.equal(isoMillis(t), new Date(t).toISOString(), `${zone}: ${t}`);
      }
    } finally {
      await client.end();
    }
  });
});
