import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  EMPTY_FILTERS,
  activeFilterCount,
  apiQuery,
  filtersFromParams,
  filtersToParams,
  toggleSort,
} from './query.js';

describe('samples search in the URL', () => {
  it('round-trips every filter through the URL and keeps defaults out of it', () => {
    const filters = {
      ...EMPTY_FILTERS,
      hash: 'ABCDEF0123456789abcdef0123456789',
      kind: 'memory-region' as const,
      verdict: 'malicious' as const,
      rule: 'EICAR_Test_File',
      tag: 'test',
      fileType: 'pe' as const,
      country: 'DE',
      sizeMin: '10',
      sizeMax: '2000',
      firstSeenFrom: '2026-01-01',
      firstSeenTo: '2026-01-31',
      lastSeenFrom: '2026-02-01',
      lastSeenTo: '2026-02-28',
      sort: 'size' as const,
      order: 'asc' as const,
      cursor: 'abc_-1',
    };
    const params = filtersToParams(filters);
    assert.deepEqual(filtersFromParams(new URLSearchParams(params.toString())), filters);
    assert.equal(filtersToParams(EMPTY_FILTERS).toString(), '');
    assert.equal(filtersToParams({ ...EMPTY_FILTERS, verdict: 'clean' }).toString(), 'verdict=clean');
  });

  it('ignores values the API would refuse', () => {
    const f = filtersFromParams(new URLSearchParams('kind=exe&verdict=bad&sort=name&order=sideways'));
    assert.equal(f.kind, '');
    assert.equal(f.verdict, '');
    assert.equal(f.sort, 'firstSeen');
    assert.equal(f.order, 'desc');
  });

  it('turns days into whole UTC days and leaves unset filters out', () => {
    const q = apiQuery({
      ...EMPTY_FILTERS,
      firstSeenFrom: '2026-03-01',
      firstSeenTo: '2026-03-02',
      rule: ' x ',
    });
    assert.equal(q.firstSeenFrom, '2026-03-01T00:00:00.000Z');
    assert.equal(q.firstSeenTo, '2026-03-02T23:59:59.999Z');
    assert.equal(q.rule, 'x');
    assert.equal(q.hash, undefined);
    assert.equal(q.cursor, undefined);
    assert.equal(q.sort, 'firstSeen');
    assert.equal(q.limit, 50);
  });

  it('sorts a column descending first, flips it on a second click, and restarts paging', () => {
    const bySize = toggleSort({ ...EMPTY_FILTERS, cursor: 'c1' }, 'size');
    assert.deepEqual([bySize.sort, bySize.order, bySize.cursor], ['size', 'desc', '']);
    const flipped = toggleSort(bySize, 'size');
    assert.deepEqual([flipped.sort, flipped.order], ['size', 'asc']);
    assert.equal(toggleSort(flipped, 'lastSeen').order, 'desc');
  });

  it('counts the filters that are set', () => {
    assert.equal(activeFilterCount(EMPTY_FILTERS), 0);
    assert.equal(activeFilterCount({ ...EMPTY_FILTERS, hash: 'a', tag: 't', sort: 'size' }), 2);
  });
});
