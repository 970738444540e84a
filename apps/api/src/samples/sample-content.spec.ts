import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hexRows } from './sample-content.service.js';

describe('hexRows', () => {
  it('makes 16-byte rows with absolute offsets, hex and printable ASCII only', () => {
    const bytes = Buffer.from([...Buffer.from('Hello, world!\n'), 0x00, 0x7f, 0x80, 0xff, 0x20, 0x7e]);
    const rows = hexRows(bytes, 4096);
    assert.equal(rows.length, 2);
    assert.deepEqual(rows[0], {
      offset: 4096,
      hex: '48 65 6c 6c 6f 2c 20 77 6f 72 6c 64 21 0a 00 7f',
      ascii: 'Hello, world!...',
    });
    assert.deepEqual(rows[1], { offset: 4112, hex: '80 ff 20 7e', ascii: '.. ~' });
  });

  it('gives no rows for no bytes', () => {
    assert.deepEqual(hexRows(Buffer.alloc(0), 10), []);
  });
});
