import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { uuidV7 } from './uuid7.js';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('uuidV7', () => {
  it('puts the milliseconds in the first 48 bits, big-endian, with the version and variant set', () => {
    const ms = 0x0193_a1b2_c3d4; // a date in 2024, above 2^32 so both halves are exercised
    const id = uuidV7(ms);
    assert.match(id, V7);
    assert.equal(id.slice(0, 8) + id.slice(9, 13), '0193a1b2c3d4');
    assert.equal(parseInt(id.replaceAll('-', '').slice(0, 12), 16), ms);
  });

  it('sorts by creation time across milliseconds, as text and as bytes', () => {
    const ids = [
      1_700_000_000_000, 1_700_000_000_001, 1_700_000_000_255, 1_700_000_000_256, 1_800_000_000_000,
    ].map((ms) => uuidV7(ms));
    assert.deepEqual([...ids].sort(), ids);
  });

  it('keeps 74 random bits: ids of the same millisecond differ, across refills of the random pool', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2_000; i++) seen.add(uuidV7(1_700_000_000_000));
    assert.equal(seen.size, 2_000);
    for (const id of seen) assert.match(id, V7);
    // Every random nibble position takes more than one value (a stuck byte would show here).
    const tails = [...seen].map((id) => id.replaceAll('-', '').slice(12));
    for (let p = 1; p < 20; p++) {
      if (p === 4) continue; // the variant nibble: 8, 9, a or b
      assert.ok(new Set(tails.map((t) => t[p])).size > 8, `position ${p} varies`);
    }
  });
});
