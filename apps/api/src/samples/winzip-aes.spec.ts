import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createCipheriv, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import {
  AUTH_CODE_LENGTH,
  SALT_LENGTH,
  VERIFIER_LENGTH,
  WinZipAesEncryptor,
  deriveKeys,
} from './winzip-aes.js';

const run = promisify(execFile);

/** Ciphertext of `plain` cut into `sizes` (cycled), each piece copied to an odd offset, plus the final bytes. */
function encryptInPieces(encryptor: WinZipAesEncryptor, plain: Buffer, sizes: number[]): Buffer {
  const out: Buffer[] = [];
  let i = 0;
  for (let at = 0; at < plain.length; i++) {
    const n = sizes[i % sizes.length] ?? 1;
    const piece = plain.subarray(at, at + n);
    const odd = Buffer.alloc(piece.length + 1);
    piece.copy(odd, 1);
    out.push(encryptor.update(odd.subarray(1)));
    at += n;
  }
  out.push(encryptor.final());
  return Buffer.concat(out);
}

describe('WinZip AES-256', () => {
  it('encrypts exactly as 7-Zip does for the same password and salt (ciphertext and authentication code)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'specimen-wzaes-'));
    try {
      const plain = randomBytes(100_003);
      await writeFile(join(dir, 'p.bin'), plain);
      await run('7z', [
        'a',
        '-tzip',
        '-mem=AES256',
        '-mx=0',
        '-pinfected',
        join(dir, 's.zip'),
        join(dir, 'p.bin'),
      ]);
      const zip = await readFile(join(dir, 's.zip'));
      assert.equal(zip.readUInt32LE(0), 0x04034b50);
      assert.equal(zip.readUInt16LE(8), 99, '7-Zip wrote an AES entry');
      const dataAt = 30 + zip.readUInt16LE(26) + zip.readUInt16LE(28);
      const salt = zip.subarray(dataAt, dataAt + SALT_LENGTH);
      const verifier = zip.subarray(dataAt + SALT_LENGTH, dataAt + SALT_LENGTH + VERIFIER_LENGTH);
      const cipherAt = dataAt + SALT_LENGTH + VERIFIER_LENGTH;
      const theirs = zip.subarray(cipherAt, cipherAt + plain.length);
      const theirCode = zip.subarray(cipherAt + plain.length, cipherAt + plain.length + AUTH_CODE_LENGTH);

      const keys = await deriveKeys('infected', salt);
      assert.deepEqual(keys.verifier, verifier);
      const encryptor = new WinZipAesEncryptor(keys);
      const ours = encryptInPieces(encryptor, plain, [65536, 1, 15, 4097, 32]);
      assert.ok(ours.equals(theirs), 'same ciphertext');
      assert.deepEqual(encryptor.authCode(), theirCode);

      const other = await deriveKeys('infecteD', salt);
      assert.notDeepEqual(other.aesKey, keys.aesKey);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('uses a little-endian counter from 1: each block is AES(counter) XOR plaintext', async () => {
    const keys = await deriveKeys('pw', randomBytes(SALT_LENGTH));
    const blocks = 600; // the low byte of the counter wraps twice
    const plain = randomBytes(blocks * 16);
    const ours = encryptInPieces(new WinZipAesEncryptor(keys), plain, [plain.length]);
    for (let k = 0; k < blocks; k++) {
      const counter = Buffer.alloc(16);
      counter.writeBigUInt64LE(BigInt(k + 1));
      // One block of OpenSSL's CTR from that counter block is AES(counter block) XOR plaintext.
      const one = createCipheriv('aes-256-ctr', keys.aesKey, counter).update(
        plain.subarray(k * 16, k * 16 + 16),
      );
      assert.deepEqual(ours.subarray(k * 16, k * 16 + 16), one, `block ${k}`);
    }
  });

  it('gives the same bytes however the input is cut', async () => {
    const keys = await deriveKeys('pw', randomBytes(SALT_LENGTH));
    const plain = randomBytes(70_001);
    const whole = new WinZipAesEncryptor(keys);
    const expected = encryptInPieces(whole, plain, [plain.length]);
    const code = whole.authCode();
    for (const sizes of [[1], [15, 17], [16], [7, 65536, 3], [8191]]) {
      const e = new WinZipAesEncryptor(keys);
      assert.ok(encryptInPieces(e, plain, sizes).equals(expected), `pieces ${sizes.join(',')}`);
      assert.deepEqual(e.authCode(), code);
    }
  });

  it('refuses use out of order', async () => {
    const e = new WinZipAesEncryptor(await deriveKeys('pw', randomBytes(SALT_LENGTH)));
    assert.throws(() => e.authCode());
    e.final();
    assert.throws(() => e.update(Buffer.alloc(1)));
    assert.throws(() => e.final());
  });
});
