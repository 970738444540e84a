import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Slots } from './slots.js';

describe('Slots', () => {
  it('runs at most `size` calls at once, the others in order as slots free up', async () => {
    const slots = new Slots(2);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const task = (i: number) =>
      slots.run(async () => {
        started.push(i);
        running++;
        most = Math.max(most, running);
        await new Promise((resolve) => setTimeout(resolve, 5));
        running--;
        return i * 10;
      });
    assert.deepEqual(await Promise.all([1, 2, 3, 4, 5].map(task)), [10, 20, 30, 40, 50]);
    assert.equal(most, 2);
    assert.deepEqual(started, [1, 2, 3, 4, 5]);
    assert.equal(slots.inUse, 0);
  });

  it('frees the slot of a call that throws', async () => {
    const slots = new Slots(1);
    await assert.rejects(
      slots.run(() => Promise.reject(new Error('boom'))),
      /boom/,
    );
    assert.equal(await slots.run(() => Promise.resolve('next')), 'next');
    assert.equal(slots.inUse, 0);
  });
});
