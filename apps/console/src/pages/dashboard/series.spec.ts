import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { colorOf, formatAge, rankCells, seriesRows } from './series.js';

describe('dashboard series', () => {
  it('makes one row per published day with every value, (other) last', () => {
    const { rows, keys } = seriesRows({
      groupBy: 'kind',
      interval: 'day',
      from: '2026-01-01',
      to: '2026-01-03',
      k: 5,
      points: [
        {
          date: '2026-01-01',
          total: 12,
          cells: [
            { value: 'file', submissions: 10 },
            { value: '(other)', submissions: 2 },
          ],
        },
        { date: '2026-01-03', total: 7, cells: [{ value: 'boot-record', submissions: 7 }] },
      ],
    });
    assert.deepEqual(keys, ['boot-record', 'file', '(other)']);
    assert.deepEqual(rows, [
      { date: '01-01', file: 10, '(other)': 2, 'boot-record': 0 },
      { date: '01-03', 'boot-record': 7, file: 0, '(other)': 0 },
    ]);
  });

  it('ranks cells largest first and keeps (other) last', () => {
    const ranked = rankCells([
      { value: '(other)', submissions: 99 },
      { value: 'DE', submissions: 5 },
      { value: 'FR', submissions: 8 },
    ]);
    assert.deepEqual(
      ranked.map((c) => c.value),
      ['FR', 'DE', '(other)'],
    );
  });

  it('formats ages and keeps verdict colours', () => {
    assert.equal(formatAge(42), '42 s');
    assert.equal(formatAge(180), '3 min');
    assert.equal(formatAge(9000), '2.5 h');
    assert.equal(formatAge(2 * 86400), '2.0 d');
    assert.equal(colorOf('malicious', 0), 'red.6');
    assert.equal(colorOf('file', 1), 'teal.6');
  });
});
