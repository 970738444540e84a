import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { enrollmentTokenEnd, parseOffset, plural } from './format.js';

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

describe('enrollmentTokenEnd', () => {
  it('says why a token enrolls no one any more, revoked before expired before used up', () => {
    const now = Date.parse('2026-11-30T10:00:00Z');
    const live = { revokedAt: null, expiresAt: '2026-11-30T11:00:00Z', uses: 1, maxUses: 2 };
    assert.equal(enrollmentTokenEnd(live, now), null);
    assert.equal(enrollmentTokenEnd({ ...live, expiresAt: '2026-11-30T10:00:00Z' }, now), 'expired');
    assert.equal(enrollmentTokenEnd({ ...live, uses: 2 }, now), 'used up');
    assert.equal(
      enrollmentTokenEnd(
        { ...live, uses: 2, expiresAt: '2026-11-29T00:00:00Z', revokedAt: '2026-11-29T00:00:00Z' },
        now,
      ),
      'revoked',
    );
  });
});
