import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { plural } from './format.js';

describe('plural', () => {
  it('gives one without the s, and any other count with it', () => {
    assert.equal(plural(1, 'rule'), '1 rule');
    assert.equal(plural(0, 'rule'), '0 rules');
    assert.equal(plural(2, 'rule'), '2 rules');
  });
});
