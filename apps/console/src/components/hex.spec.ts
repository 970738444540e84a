import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hexOffset, lastWindowStart, windowLabel, windowStart } from '../lib/format.js';
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

  it('ends the last window at the last byte, also when the size is no multiple of 16', () => {
    // 8068 bytes: the last row starts at 0x1f80 and holds 4 bytes; rounding down ended the view at 0x1f80.
    const start = lastWindowStart(8068, 512);
    assert.equal(start, 7568);
    assert.equal(start % 16, 0);
    assert.ok(start + 512 >= 8068, 'the window reaches the end (Next and End are disabled there)');
    assert.equal(windowStart(start + 4 * 16), start, 'End moves the view there');
    assert.equal(lastWindowStart(6000, 512), 5488);
    assert.equal(lastWindowStart(100, 512), 0);
  });

  it('labels a window with its first and last offset, both included', () => {
    assert.equal(windowLabel(7568, 512, 8068), '0x00001d90 – 0x00001f83 of 7.9 KiB');
    assert.equal(windowLabel(0, 512, 8068), '0x00000000 – 0x000001ff of 7.9 KiB');
    assert.equal(windowLabel(0, 512, 68), '0x00000000 – 0x00000043 of 68 B');
    assert.equal(windowLabel(0, 512, 0), 'empty sample');
  });
});
