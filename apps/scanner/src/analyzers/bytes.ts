import { open } from 'node:fs/promises';
export { crc32 } from 'node:zlib';

/**
 * Random access to a sample's bytes. Analyzers read only the regions they need through it, so a large
 * sample on disk is never read whole. `read` returns fewer bytes (possibly none) past the end and never
 * throws for an out-of-range request.
 */
export interface ByteSource {
  readonly size: number;
  read(offset: number, length: number): Promise<Buffer>;
}

/** The largest single read an analyzer may ask for; bigger requests are cut to this. */
export const MAX_READ = 16 * 1024 * 1024;

/**
 * Smallest e_lfanew of a PE: the PE header may overlap the 64-byte DOS header (tiny and hand-made PEs,
 * which Windows loads and `file` and pefile read); 0x40 left them unrecognised.
 */
export const MIN_LFANEW = 4;

function clampRange(size: number, offset: number, length: number): [number, number] {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length <= 0) {
    return [0, 0];
  }
  const start = Math.min(offset, size);
  return [start, Math.min(size - start, length, MAX_READ)];
}

export function bufferSource(bytes: Buffer): ByteSource {
  return {
    size: bytes.length,
    read(offset, length) {
      const [start, n] = clampRange(bytes.length, offset, length);
      return Promise.resolve(bytes.subarray(start, start + n));
    },
  };
}

/** A window of another source starting at `base` (for example a PE image inside a memory region). */
export function subSource(source: ByteSource, base: number, size = source.size - base): ByteSource {
  const windowSize = Math.max(0, Math.min(size, source.size - base));
  return {
    size: windowSize,
    read(offset, length) {
      const [start, n] = clampRange(windowSize, offset, length);
      return n === 0 ? Promise.resolve(Buffer.alloc(0)) : source.read(base + start, n);
    },
  };
}

/** A file opened for positional reads; close it when done. */
export async function openFileSource(path: string): Promise<ByteSource & { close(): Promise<void> }> {
  const handle = await open(path, 'r');
  const { size } = await handle.stat();
  return {
    size,
    async read(offset, length) {
      const [start, n] = clampRange(size, offset, length);
      if (n === 0) return Buffer.alloc(0);
      const buffer = Buffer.alloc(n);
      const { bytesRead } = await handle.read(buffer, 0, n, start);
      return buffer.subarray(0, bytesRead);
    },
    close: () => handle.close(),
  };
}

/** A point in time after which analyzers stop early and say their result is truncated. */
export class Deadline {
  private readonly at: number;
  constructor(ms: number) {
    this.at = Date.now() + ms;
  }
  get expired(): boolean {
    return Date.now() > this.at;
  }
}

// Bounds-checked reads: a value outside the buffer reads as 0 (callers check lengths where it matters).
export const has = (b: Buffer, offset: number, length: number): boolean =>
  Number.isSafeInteger(offset) && offset >= 0 && length >= 0 && offset + length <= b.length;
export const u8 = (b: Buffer, o: number): number => (has(b, o, 1) ? b.readUInt8(o) : 0);
export const u16 = (b: Buffer, o: number, le = true): number =>
  has(b, o, 2) ? (le ? b.readUInt16LE(o) : b.readUInt16BE(o)) : 0;
export const u32 = (b: Buffer, o: number, le = true): number =>
  has(b, o, 4) ? (le ? b.readUInt32LE(o) : b.readUInt32BE(o)) : 0;
export const u64 = (b: Buffer, o: number, le = true): bigint =>
  has(b, o, 8) ? (le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : 0n;

/** A 64-bit value as a number when exact, else the largest safe integer (such offsets are out of range anyway). */
export const toSafe = (v: bigint): number =>
  v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : Number.MAX_SAFE_INTEGER;

/** Addresses are shown as hex strings: 64-bit ones do not fit a JSON number. */
export const hex = (v: number | bigint): string => `0x${v.toString(16)}`;

/** NUL-terminated ASCII-ish string of at most `max` bytes, non-printables replaced. */
export function cString(b: Buffer, offset: number, max: number): string {
  if (!has(b, offset, 0)) return '';
  const end = Math.min(b.length, offset + max);
  let stop = b.indexOf(0, offset);
  if (stop < 0 || stop > end) stop = end;
  return printable(b.subarray(offset, stop));
}

export function printable(b: Buffer): string {
  let s = '';
  for (const c of b) s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '?';
  return s;
}

/** Counts byte values for entropy over data read in chunks. */
export class ByteHistogram {
  readonly counts = new Float64Array(256);
  total = 0;
  add(b: Buffer): void {
    for (const c of b) this.counts[c] = (this.counts[c] ?? 0) + 1;
    this.total += b.length;
  }
  /** Shannon entropy in bits per byte (0-8), rounded to 4 decimals; 0 for no data. */
  entropy(): number {
    if (this.total === 0) return 0;
    let e = 0;
    for (const n of this.counts) {
      if (n > 0) {
        const p = n / this.total;
        e -= p * Math.log2(p);
      }
    }
    return Math.round(e * 10_000) / 10_000;
  }
}

export function entropyOf(b: Buffer): number {
  const h = new ByteHistogram();
  h.add(b);
  return h.entropy();
}

const ENTROPY_CHUNK = 1024 * 1024;

/**
 * Entropy of `length` bytes at `offset`, read in chunks and capped at `maxBytes`; `sampled` says the cap or
 * the deadline cut it short.
 */
export async function entropyOfRange(
  source: ByteSource,
  offset: number,
  length: number,
  deadline: Deadline,
  maxBytes = 64 * 1024 * 1024,
): Promise<{ entropy: number | null; sampled: boolean }> {
  const h = new ByteHistogram();
  const want = Math.max(0, Math.min(length, source.size - offset));
  const limit = Math.min(want, maxBytes);
  let position = offset;
  while (h.total < limit && !deadline.expired) {
    const chunk = await source.read(position, Math.min(ENTROPY_CHUNK, limit - h.total));
    if (chunk.length === 0) break;
    h.add(chunk);
    position += chunk.length;
  }
  // Nothing read of bytes that are there (the time limit came first): no entropy, not an entropy of 0.
  return { entropy: want > 0 && h.total === 0 ? null : h.entropy(), sampled: h.total < want };
}

/** A GUID stored in the mixed-endian Microsoft layout, as upper-case text. */
export function guid(b: Buffer, o: number): string {
  if (!has(b, o, 16)) return '';
  const h = (start: number, end: number) => b.subarray(o + start, o + end).toString('hex');
  const le = (start: number, end: number) =>
    Buffer.from(b.subarray(o + start, o + end))
      .reverse()
      .toString('hex');
  return `${le(0, 4)}-${le(4, 6)}-${le(6, 8)}-${h(8, 10)}-${h(10, 16)}`.toUpperCase();
}
