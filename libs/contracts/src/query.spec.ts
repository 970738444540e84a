import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { queryInt } from './query.js';

describe('queryInt', () => {
  it('takes decimal digits within its bounds, and its default when absent', () => {
    const limit = queryInt(1, 500, 50);
    assert.equal(limit.parse('7'), 7);
    assert.equal(limit.parse(undefined), 50);
  });

  it('says a parameter given twice is given twice, not that it is NaN', () => {
    const parsed = queryInt(1, 500, 50).safeParse(['2', '3']);
    assert.equal(parsed.success, false);
    assert.deepEqual(
      parsed.error?.issues.map((i) => i.message),
      ['must be given once'],
    );
  });
});
