import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { SpecimenError } from '#contracts';
import { PartMeter, assertTusResumable, parseChecksum, parseSize, parseUploadMetadata } from './tus.js';

const code = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    if (e instanceof SpecimenError) return e.code;
    throw e;
  }
  return 'none';
};

describe('tus headers', () => {
  it('parses Upload-Metadata pairs, with and without values', () => {
    const header = `metadata ${Buffer.from('{"a":"é"}').toString('base64')},flag,filename ${Buffer.from('x.bin').toString('base64')}`;
    const pairs = parseUploadMetadata(header);
    assert.equal(pairs.get('metadata'), '{"a":"é"}');
    assert.equal(pairs.get('flag'), null);
    assert.equal(pairs.get('filename'), 'x.bin');
    assert.equal(parseUploadMetadata(undefined).size, 0);
  });

  it('refuses malformed Upload-Metadata', () => {
    assert.equal(
      code(() => parseUploadMetadata('a YQ==,a YQ==')),
      'VALIDATION_FAILED',
    );
    assert.equal(
      code(() => parseUploadMetadata('a not*base64')),
      'VALIDATION_FAILED',
    );
    assert.equal(
      code(() => parseUploadMetadata('a YQ== extra')),
      'VALIDATION_FAILED',
    );
  });

  it('parses sizes and refuses anything but a non-negative integer', () => {
    assert.equal(parseSize('Upload-Offset', '0'), 0);
    assert.equal(parseSize('Upload-Length', '4294967296'), 4294967296);
    for (const bad of [undefined, '', '-1', '1.5', '01', '1e3', '99999999999999999'])
      assert.equal(
        code(() => parseSize('Upload-Length', bad)),
        'VALIDATION_FAILED',
        String(bad),
      );
  });

  it('parses Upload-Checksum for sha1 and sha256 only', () => {
    const digest = createHash('sha1').update('x').digest();
    assert.deepEqual(parseChecksum(`sha1 ${digest.toString('base64')}`), { algorithm: 'sha1', digest });
    assert.equal(
      code(() => parseChecksum(`md5 ${digest.toString('base64')}`)),
      'VALIDATION_FAILED',
    );
    assert.equal(
      code(() => parseChecksum('sha256')),
      'VALIDATION_FAILED',
    );
  });

  it('refuses an Upload-Checksum digest that is not base64 or not the length of its algorithm', () => {
    const sha256 = createHash('sha256').update('x').digest('base64');
    // Base64 cut short (not a multiple of 4 characters), and valid base64 of a sha1 digest sent as sha256.
    for (const bad of [
      `sha256 ${sha256.slice(0, -2)}`,
      'sha256 abc',
      `sha256 ${createHash('sha1').update('x').digest('base64')}`,
    ]) {
      assert.equal(
        code(() => parseChecksum(bad)),
        'VALIDATION_FAILED',
        bad,
      );
    }
  });

  it('wants Tus-Resumable 1.0.0', () => {
    assert.equal(
      code(() => assertTusResumable('1.0.0')),
      'none',
    );
    assert.equal(
      code(() => assertTusResumable('0.2.2')),
      'TUS_VERSION_UNSUPPORTED',
    );
    assert.equal(
      code(() => assertTusResumable(undefined)),
      'TUS_VERSION_UNSUPPORTED',
    );
  });
});

describe('PartMeter', () => {
  it('counts and hashes what passes', async () => {
    const meter = new PartMeter(10, 'sha256');
    const out: Buffer[] = [];
    for await (const chunk of Readable.from([Buffer.from('abc'), Buffer.from('de')]).pipe(meter))
      out.push(chunk as Buffer);
    assert.equal(Buffer.concat(out).toString(), 'abcde');
    assert.equal(meter.bytes, 5);
    assert.deepEqual(meter.digest(), createHash('sha256').update('abcde').digest());
  });

  it('shows every byte it passes on to its tap, in order, and none past the limit', async () => {
    const tapped: Buffer[] = [];
    const meter = new PartMeter(5, null, (chunk) => tapped.push(chunk));
    const out: Buffer[] = [];
    for await (const chunk of Readable.from([Buffer.from('abc'), Buffer.from('de')]).pipe(meter))
      out.push(chunk as Buffer);
    assert.equal(Buffer.concat(tapped).toString(), 'abcde');
    assert.deepEqual(Buffer.concat(out), Buffer.concat(tapped));
    const over: Buffer[] = [];
    const small = new PartMeter(4, null, (chunk) => over.push(chunk));
    await assert.rejects(async () => {
      for await (const _ of Readable.from([Buffer.from('abc'), Buffer.from('de')]).pipe(small)) void _;
    });
    assert.equal(Buffer.concat(over).toString(), 'abc');
  });

  it('fails with FILE_TOO_LARGE past the remaining length', async () => {
    const meter = new PartMeter(4, null);
    await assert.rejects(
      async () => {
        for await (const _ of Readable.from([Buffer.from('abc'), Buffer.from('de')]).pipe(meter)) void _;
      },
      (e: unknown) => e instanceof SpecimenError && e.code === 'FILE_TOO_LARGE',
    );
  });
});
