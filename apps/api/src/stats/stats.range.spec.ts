import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SpecimenError } from '#contracts';
import { statsRange } from './stats.service.js';

describe('statsRange', () => {
  it('takes the 30 days up to today, or up to `to`, when `from` is not given', () => {
    assert.deepEqual(statsRange({}, '2026-11-30'), { from: '2026-11-01', to: '2026-11-30' });
    assert.deepEqual(statsRange({ to: '2026-03-01' }, '2026-11-30'), {
      from: '2026-01-31',
      to: '2026-03-01',
    });
    assert.deepEqual(statsRange({ to: '0001-01-10' }, '2026-11-30'), {
      from: '0001-01-01',
      to: '0001-01-10',
    });
  });

  it('refuses a `from` after the day it ends on, given or today, naming the field', () => {
    assert.deepEqual(statsRange({ from: '2026-11-30' }, '2026-11-30'), {
      from: '2026-11-30',
      to: '2026-11-30',
    });
    assert.throws(
      () => statsRange({ from: '2027-01-01' }, '2026-11-30'),
      (e: unknown) =>
        e instanceof SpecimenError &&
        e.code === 'VALIDATION_FAILED' &&
        /today in UTC/.test(e.message) &&
        JSON.stringify(e.details).includes('query.from'),
    );
  });
});
