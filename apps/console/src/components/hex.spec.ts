import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hexOffset, windowStart } from '../lib/format.js';
import { rowCells } from './hex.js';

describe('hex view', () => {
  const row = {
    offset: 32,
    hex: '58 35 4f 21 50 25 40 41 50 5b 34 5c 50 5a 58 35',
    ascii: 'X5O!P%@AP[4\\PZX5',
  };

  it('marks exactly the bytes of the selected match', () => {
    const cells = rowCells(row, 36, 3);
    assert.deepEqual(
      cells.filter((c) => c.hit).map((c) => c.offset),
      [36, 37, 38],
    );
    assert.equal(cells[4]?.hex, '50');
    assert.equal(cells[4]?.ascii, 'P');
  });

  it('marks nothing without a selection, and a match running past the row only in its part', () => {
    assert.equal(rowCells(row, null, 0).filter((c) => c.hit).length, 0);
    assert.equal(rowCells(row, 40, 100).filter((c) => c.hit).length, 8);
    assert.equal(rowCells(row, 0, 10).filter((c) => c.hit).length, 0);
  });

  it('opens the window a few aligned rows before the offset', () => {
    assert.equal(windowStart(0), 0);
    assert.equal(windowStart(40), 0);
    assert.equal(windowStart(4100), 4032);
    assert.equal(windowStart(4100) % 16, 0);
    assert.equal(hexOffset(4100), '0x00001004');
  });
});
