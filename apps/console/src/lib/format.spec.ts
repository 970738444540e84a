import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseOffset, plural } from './format.js';

describe('plural', () => {
  it('gives one without the s, and any other count with it', () => {
    assert.equal(plural(1, 'rule'), '1 rule');
    assert.equal(plural(0, 'rule'), '0 rules');
    assert.equal(plural(2, 'rule'), '2 rules');
  });
});

describe('parseOffset', () => {
  it('reads hex with 0x and decimal without, within the sample', () => {
    assert.equal(parseOffset('0x1F40', 10_000), 8000);
    assert.equal(parseOffset(' 8000 ', 10_000), 8000);
    assert.equal(parseOffset('0', 1), 0);
    assert.equal(parseOffset('10000', 10_000), null, 'past the end');
    assert.equal(parseOffset('-1', 10_000), null);
    assert.equal(parseOffset('1f40', 10_000), null, 'hex needs its 0x');
    assert.equal(parseOffset('0x', 10_000), null);
    assert.equal(parseOffset('', 10_000), null);
  });
});
