import { type Cipheriv, type Hmac, createCipheriv, createHmac, pbkdf2 } from 'node:crypto';
import { endianness } from 'node:os';
import { promisify } from 'node:util';
import { freeBuffer } from '#storage';

/** WinZip AES-256 (AE-2): https://www.winzip.com/en/support/aes-encryption/ */
export const SALT_LENGTH = 16;
export const VERIFIER_LENGTH = 2;
export const AUTH_CODE_LENGTH = 10;
/** Bytes the encryption adds to an entry: salt, password verifier and authentication code. */
export const AES_OVERHEAD = SALT_LENGTH + VERIFIER_LENGTH + AUTH_CODE_LENGTH;

const KEY_LENGTH = 32;
const ITERATIONS = 1000;
const BLOCK = 16;
const LITTLE_ENDIAN = endianness() === 'LE';
const EMPTY = Buffer.alloc(0);
/**
 * Keystream bytes made per aes-256-ecb call by {@link WinZipAesEncryptor.encryptInPlace}: small enough
 * that the allocator serves the call's output from its heap (glibc maps anything over 128 KiB afresh, so
 * the kernel would zero its pages every time), and that output is freed as soon as it is used.
 */
const KEYSTREAM_PIECE = 64 * 1024;
const derive = promisify(pbkdf2);

export interface WinZipAesKeys {
  aesKey: Buffer;
  hmacKey: Buffer;
  /** The two bytes written after the salt, which let a reader reject a wrong password early. */
  verifier: Buffer;
}

/** PBKDF2-HMAC-SHA1, 1000 iterations: the AES key, then the HMAC key, then the password verifier. */
export async function deriveKeys(password: string, salt: Buffer): Promise<WinZipAesKeys> {
  const bytes = await derive(
    Buffer.from(password, 'utf8'),
    salt,
    ITERATIONS,
    2 * KEY_LENGTH + VERIFIER_LENGTH,
    'sha1',
  );
  return {
    aesKey: bytes.subarray(0, KEY_LENGTH),
    hmacKey: bytes.subarray(KEY_LENGTH, 2 * KEY_LENGTH),
    verifier: bytes.subarray(2 * KEY_LENGTH),
  };
}

/**
 * AES-256 in WinZip's counter mode plus the HMAC-SHA1 of the ciphertext, chunk by chunk.
 *
 * WinZip's counter block is a little-endian integer starting at 1 (Gladman's `fcrypt`: the low eight bytes
 * count, the rest stay zero), while OpenSSL's aes-256-ctr counts big-endian, so no IV makes the two agree
 * beyond the first block. Instead the counter blocks of a chunk are written into a buffer, encrypted in one
 * aes-256-ecb call (the keystream) and XORed with the plaintext 8 bytes at a time. Chunks are cut to whole
 * blocks (up to 15 bytes wait for the next chunk), so the keystream always starts at a block boundary.
 */
export class WinZipAesEncryptor {
  private readonly ecb: Cipheriv;
  private readonly hmac: Hmac;
  private counters = EMPTY;
  private counterWords = new Uint32Array(0);
  /** Next counter value, as two 32-bit halves (the counter passes 2^32 after 64 GiB). */
  private low = 1;
  private high = 0;
  private pending = EMPTY;
  private finished = false;

  constructor(keys: Pick<WinZipAesKeys, 'aesKey' | 'hmacKey'>) {
    this.ecb = createCipheriv('aes-256-ecb', keys.aesKey, null);
    this.ecb.setAutoPadding(false);
    this.hmac = createHmac('sha1', keys.hmacKey);
  }

  /** Ciphertext of `chunk` (with bytes held back from the previous call), minus up to 15 held back bytes. */
  update(chunk: Buffer): Buffer {
    if (this.finished) throw new Error('update after final');
    let data = chunk;
    // A copy both joins the held-back bytes and gives the 8-byte alignment the fast XOR needs.
    if (this.pending.length > 0 || (chunk.byteOffset & 7) !== 0) {
      data = Buffer.allocUnsafeSlow(this.pending.length + chunk.length);
      this.pending.copy(data, 0);
      chunk.copy(data, this.pending.length);
    }
    const whole = data.length - (data.length % BLOCK);
    this.pending = whole === data.length ? EMPTY : Buffer.from(data.subarray(whole));
    if (whole === 0) return EMPTY;
    const out = this.keystream(whole / BLOCK);
    xorInto(out, data, whole);
    this.hmac.update(out);
    return out;
  }

  /**
   * Encrypts `data` where it lies: whole blocks (a multiple of 16 bytes), 8-byte aligned, with no bytes
   * held back from {@link update}. The same ciphertext as `update`, without a new buffer per call: the
   * keystream is made in pieces whose memory is freed as soon as it is XORed in, so it never waits for a
   * garbage collection (256 KiB of fresh ciphertext per chunk did: V8 counts such memory as old-generation
   * growth, and it set off a full collection every 20-45 MiB of download).
   */
  encryptInPlace(data: Buffer): void {
    if (this.finished) throw new Error('update after final');
    if (this.pending.length > 0 || data.length % BLOCK !== 0 || (data.byteOffset & 7) !== 0) {
      throw new RangeError('encryptInPlace takes aligned whole blocks, with none held back');
    }
    for (let at = 0; at < data.length; at += KEYSTREAM_PIECE) {
      const piece = data.subarray(at, Math.min(data.length, at + KEYSTREAM_PIECE));
      const stream = this.keystream(piece.length / BLOCK);
      xorInto(piece, stream, piece.length);
      freeBuffer(stream);
    }
    this.hmac.update(data);
  }

  /** Ciphertext of the held-back bytes; then {@link authCode} may be called. */
  final(): Buffer {
    if (this.finished) throw new Error('final called twice');
    this.finished = true;
    const last = this.pending;
    this.pending = EMPTY;
    if (last.length === 0) return EMPTY;
    const out = this.keystream(1).subarray(0, last.length);
    for (let i = 0; i < last.length; i++) out[i] = out[i]! ^ last[i]!;
    this.hmac.update(out);
    return out;
  }

  /** The 10-byte authentication code: the first bytes of the HMAC-SHA1 of all ciphertext. */
  authCode(): Buffer {
    if (!this.finished) throw new Error('authCode before final');
    return this.hmac.digest().subarray(0, AUTH_CODE_LENGTH);
  }

  /** `blocks` keystream blocks: the next counter values encrypted with AES-256-ECB. */
  private keystream(blocks: number): Buffer {
    const bytes = blocks * BLOCK;
    if (this.counters.length < bytes) {
      this.counters = Buffer.alloc(bytes); // bytes 8..15 of each block stay 0
      this.counterWords = new Uint32Array(this.counters.buffer, this.counters.byteOffset, bytes / 4);
    }
    let low = this.low;
    let high = this.high;
    if (LITTLE_ENDIAN) {
      const words = this.counterWords;
      for (let i = 0; i < bytes / 4; i += 4) {
        words[i] = low;
        words[i + 1] = high;
        low = (low + 1) >>> 0;
        if (low === 0) high = (high + 1) >>> 0;
      }
    } else {
      for (let at = 0; at < bytes; at += BLOCK) {
        this.counters.writeUInt32LE(low, at);
        this.counters.writeUInt32LE(high, at + 4);
        low = (low + 1) >>> 0;
        if (low === 0) high = (high + 1) >>> 0;
      }
    }
    this.low = low;
    this.high = high;
    const out = this.ecb.update(this.counters.subarray(0, bytes));
    if (out.length !== bytes) throw new Error(`aes-256-ecb returned ${out.length} bytes for ${bytes}`);
    return out;
  }
}

/** `target[i] ^= source[i]` for the first `length` bytes (a multiple of 8), 8 bytes at a time when aligned. */
function xorInto(target: Buffer, source: Buffer, length: number): void {
  if ((target.byteOffset & 7) === 0 && (source.byteOffset & 7) === 0) {
    const t = new BigUint64Array(target.buffer, target.byteOffset, length / 8);
    const s = new BigUint64Array(source.buffer, source.byteOffset, length / 8);
    // In bounds by construction; `!` keeps the loop free of undefined checks.
    for (let i = 0; i < t.length; i++) t[i] = t[i]! ^ s[i]!;
  } else {
    for (let i = 0; i < length; i++) target[i] = target[i]! ^ source[i]!;
  }
}
