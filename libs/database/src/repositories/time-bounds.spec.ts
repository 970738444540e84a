import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { LATEST_TIME } from '#contracts';
import { afterMillisecond } from './time-bounds.js';

describe('afterMillisecond', () => {
  it('is the next millisecond', () => {
    const to = new Date('2026-11-30T16:28:09.935Z');
    assert.equal(afterMillisecond(to).toISOString(), '2026-11-30T16:28:09.936Z');
  });

  it('stays a time PostgreSQL reads at the latest bound a query may name', async () => {
    const bound = afterMillisecond(new Date(LATEST_TIME)).toISOString();
    assert.equal(bound, '9999-12-31T23:59:59.999Z');
    const client = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
    await client.connect();
    try {
      // As the search and the audit log send an upper bound: its ISO text, cast to timestamptz.
      const { rows } = await client.query<{ ok: boolean }>('select $1::timestamptz is not null as ok', [
        bound,
      ]);
      assert.equal(rows[0]?.ok, true);
    } finally {
      await client.end();
    }
  });
});
