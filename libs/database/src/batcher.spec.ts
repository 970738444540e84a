import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Batcher } from './batcher.js';

/** A batch call that waits until released, recording the batches it was given. */
function gatedCall(fail: (items: number[]) => boolean = () => false) {
  const batches: number[][] = [];
  const gates: Array<() => void> = [];
  const call = async (items: number[]): Promise<string[]> => {
    batches.push(items);
    await new Promise<void>((resolve) => gates.push(resolve));
    if (fail(items)) throw new Error(`bad batch ${items.join(',')}`);
    return items.map((i) => `r${i}`);
  };
  const releaseAll = async (): Promise<void> => {
    while (gates.length > 0) {
      for (const gate of gates.splice(0)) gate();
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  return { batches, call, releaseAll };
}

describe('Batcher', () => {
  it('calls at once when idle, then takes everything submitted meanwhile in one call', async () => {
    const { batches, call, releaseAll } = gatedCall();
    const batcher = new Batcher(call, 100);
    const results = [1, 2, 3, 4, 5].map((i) => batcher.submit(i));
    assert.deepEqual(batches, [[1]], 'the first item does not wait for company');
    assert.equal(batcher.queued, 4);
    const done = Promise.all(results);
    await releaseAll();
    assert.deepEqual(await done, ['r1', 'r2', 'r3', 'r4', 'r5']);
    assert.deepEqual(batches, [[1], [2, 3, 4, 5]]);
  });

  it('never puts more than maxBatch items in one call', async () => {
    const { batches, call, releaseAll } = gatedCall();
    const batcher = new Batcher(call, 2);
    const done = Promise.all([1, 2, 3, 4, 5, 6].map((i) => batcher.submit(i)));
    await releaseAll();
    assert.deepEqual(await done, ['r1', 'r2', 'r3', 'r4', 'r5', 'r6']);
    assert.deepEqual(batches, [[1], [2, 3], [4, 5], [6]]);
  });

  it('retries a failed batch item by item, so only the bad item fails', async () => {
    const { batches, call, releaseAll } = gatedCall((items) => items.includes(3));
    const batcher = new Batcher(call, 100);
    const settled = Promise.allSettled([1, 2, 3, 4].map((i) => batcher.submit(i)));
    await releaseAll();
    const outcome = await settled;
    assert.deepEqual(
      outcome.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).message)),
      ['r1', 'r2', 'bad batch 3', 'r4'],
    );
    assert.deepEqual(batches, [[1], [2, 3, 4], [2], [3], [4]]);
  });

  it('rejects every item when the call returns too few results', async () => {
    const batcher = new Batcher<number, number>(() => Promise.resolve([]), 10);
    await assert.rejects(batcher.submit(1), /returned 0 results for 1 items/);
  });

  it('with a linger, waits that long for company when idle, or until enough items are in', async () => {
    const { batches, call, releaseAll } = gatedCall();
    const batcher = new Batcher(call, 5, { ms: 30, items: 3 });
    const first = [1, 2].map((i) => batcher.submit(i));
    assert.deepEqual(batches, [], 'a lone item waits for company');
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.deepEqual(batches, [[1, 2]], 'the linger ends the wait');
    await releaseAll();
    assert.deepEqual(await Promise.all(first), ['r1', 'r2']);
    const second = [3, 4, 5].map((i) => batcher.submit(i));
    assert.deepEqual(
      batches,
      [
        [1, 2],
        [3, 4, 5],
      ],
      'a full batch does not wait',
    );
    await releaseAll();
    assert.deepEqual(await Promise.all(second), ['r3', 'r4', 'r5']);
  });
});
