import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import { SubmissionMetadata } from '#contracts';
import { HashingStream } from './hashing.js';
import { sanitizeFilename, verify } from './submissions.service.js';

describe('sanitizeFilename', () => {
  it('keeps the last path segment, without control characters, at most 255 characters', () => {
    assert.equal(sanitizeFilename('C:\\Users\\bob\\evil.exe'), 'evil.exe');
    assert.equal(sanitizeFilename('../../etc/passwd'), 'passwd');
    assert.equal(sanitizeFilename('a\u0000b\u001fc\u007f.txt'), 'abc.txt');
    assert.equal(sanitizeFilename('x'.repeat(300))?.length, 255);
    assert.equal(sanitizeFilename('dir/'), null);
    assert.equal(sanitizeFilename(undefined), null);
  });
});

describe('verify', () => {
  const bytes = Buffer.from('hello');
  const actual = {
    size: 5,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    sha1: createHash('sha1').update(bytes).digest('hex'),
    md5: createHash('md5').update(bytes).digest('hex'),
  };
  const declared = (o: Record<string, unknown>) =>
    SubmissionMetadata.parse({ kind: 'file', sha256: actual.sha256, size: 5, ...o });

  it('accepts matching values, with uppercase hex normalised', () => {
    assert.equal(verify(declared({ md5: actual.md5.toUpperCase(), sha1: actual.sha1 }), actual), null);
  });

  it('names the first disagreeing field, size first', () => {
    assert.equal(verify(declared({ size: 6 }), actual)?.code, 'SIZE_MISMATCH');
    assert.equal(verify(declared({ sha256: 'a'.repeat(64) }), actual)?.details?.field, 'sha256');
    assert.equal(verify(declared({ md5: 'b'.repeat(32) }), actual)?.details?.field, 'md5');
    assert.equal(verify(declared({ sha1: 'c'.repeat(40) }), actual)?.code, 'CHECKSUM_MISMATCH');
  });
});

describe('HashingStream', () => {
  it('computes the three digests and the size in one pass, passing the bytes through', async () => {
    const chunks = [Buffer.from('abc'), Buffer.alloc(100_000, 1), Buffer.from('xyz')];
    const all = Buffer.concat(chunks);
    const hashing = new HashingStream();
    const out: Buffer[] = [];
    await pipeline(Readable.from(chunks), hashing, async (source: AsyncIterable<Buffer>) => {
      for await (const c of source) out.push(c);
    });
    assert.deepEqual(Buffer.concat(out), all);
    assert.deepEqual(hashing.digests(), {
      size: all.length,
      md5: createHash('md5').update(all).digest('hex'),
      sha1: createHash('sha1').update(all).digest('hex'),
      sha256: createHash('sha256').update(all).digest('hex'),
    });
  });
});
