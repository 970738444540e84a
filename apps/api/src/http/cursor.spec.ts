import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { SpecimenError } from '#contracts';
import { decodeCursor, encodeCursor } from './cursor.js';

const Position = z.strictObject({ k: z.string(), i: z.number() });

describe('page cursors', () => {
  it('round-trip through an opaque URL-safe string', () => {
    const cursor = encodeCursor({ k: '2026-01-01T00:00:00.000001Z', i: 7 });
    assert.match(cursor, /^[A-Za-z0-9_-]+$/);
    assert.deepEqual(decodeCursor(Position, cursor), { k: '2026-01-01T00:00:00.000001Z', i: 7 });
  });

  it('refuse anything this list did not make, as a 400 naming query.cursor', () => {
    for (const bad of ['bm90LWpzb24', encodeCursor({ k: 1, i: 'x' }), encodeCursor({ k: 'a', i: 1, x: 2 })]) {
      assert.throws(
        () => decodeCursor(Position, bad),
        (e: unknown) =>
          e instanceof SpecimenError &&
          e.code === 'VALIDATION_FAILED' &&
          JSON.stringify(e.details).includes('query.cursor'),
      );
    }
  });
});
