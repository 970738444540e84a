import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuditQuery, SearchSamplesQuery } from './analyst.schema.js';
import { StatsOverviewQuery, StatsSeriesQuery } from './stats.schema.js';

describe('time bounds of the analyst lists', () => {
  it('refuses instants PostgreSQL cannot read as the ISO text the queries send (years 0001 to 9999 only)', () => {
    for (const time of [
      '0000-01-01T00:00:00Z',
      '0000-12-31T23:59:59.999Z',
      // Year 0 or 10000 once the offset is applied.
      '0001-01-01T00:00:00+01:00',
      '9999-12-31T23:59:59.999-01:00',
    ]) {
      for (const field of ['firstSeenFrom', 'firstSeenTo', 'lastSeenFrom', 'lastSeenTo'] as const) {
        const parsed = SearchSamplesQuery.safeParse({ [field]: time });
        assert.equal(parsed.success, false, `${field}=${time}`);
        assert.deepEqual(parsed.error?.issues[0]?.path, [field]);
      }
      for (const field of ['from', 'to'] as const) {
        assert.equal(AuditQuery.safeParse({ [field]: time }).success, false, `audit ${field}=${time}`);
      }
    }
    for (const time of [
      '0001-01-01T00:00:00Z',
      '9999-12-31T23:59:59.999Z',
      '2026-11-30T17:28:09.935+01:00',
    ]) {
      assert.equal(
        SearchSamplesQuery.safeParse({ firstSeenFrom: time, lastSeenTo: time }).success,
        true,
        time,
      );
      assert.equal(AuditQuery.safeParse({ from: time, to: time }).success, true, time);
    }
  });

  it('refuses the statistics day 0000-01-01, which PostgreSQL has not', () => {
    assert.equal(StatsOverviewQuery.safeParse({ from: '0000-01-01' }).success, false);
    assert.equal(StatsSeriesQuery.safeParse({ groupBy: 'kind', to: '0000-12-31' }).success, false);
    assert.equal(StatsOverviewQuery.safeParse({ from: '0001-01-01', to: '9999-12-31' }).success, true);
  });

  it('refuses swapped bounds, naming the upper one, and takes equal ones', () => {
    const early = '2026-01-01T00:00:00Z';
    const late = '2026-02-01T00:00:00Z';
    for (const [from, to] of [
      ['firstSeenFrom', 'firstSeenTo'],
      ['lastSeenFrom', 'lastSeenTo'],
    ] as const) {
      const swapped = SearchSamplesQuery.safeParse({ [from]: late, [to]: early });
      assert.equal(swapped.success, false, from);
      assert.deepEqual(swapped.error?.issues[0]?.path, [to]);
      assert.equal(SearchSamplesQuery.safeParse({ [from]: early, [to]: early }).success, true, from);
    }
    const audit = AuditQuery.safeParse({ from: late, to: early });
    assert.equal(audit.success, false);
    assert.deepEqual(audit.error?.issues[0]?.path, ['to']);
    assert.equal(AuditQuery.safeParse({ from: early, to: late }).success, true);
  });
});
