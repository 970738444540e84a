import { randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { Readable, finished } from 'node:stream';
import { AES_OVERHEAD, SALT_LENGTH, WinZipAesEncryptor, deriveKeys } from './winzip-aes.js';

/** What the archive holds: one entry of `size` bytes (the size must be known before the first byte). */
export interface ZipEntry {
  name: string;
  size: number;
}

/** For tests: fixed inputs instead of random and current ones, and ZIP64 records for any size. */
export interface EncryptedZipOptions {
  salt?: Buffer;
  modified?: Date;
  forceZip64?: boolean;
}

const MAX32 = 0xffffffff;
const LOCAL_HEADER = 30;
const CENTRAL_HEADER = 46;
const ZIP64_EXTRA = 4 + 16; // original and compressed size; the header offset (0) always fits
const AES_EXTRA = 4 + 7;
const TIME_EXTRA = 4 + 5;
const ZIP64_END = 56;
const ZIP64_LOCATOR = 20;
const END = 22;
/** AES needs 5.1 (which is above ZIP64's 4.5). */
const VERSION_NEEDED = 51;
/** Unix, APPNOTE 6.3. */
const VERSION_MADE_BY = (3 << 8) | 63;
const FLAG_ENCRYPTED = 0x0001;
const METHOD_AES = 99;
/** Regular file, rw-r--r--, in the high half as Unix zip tools write it. */
const EXTERNAL_ATTRIBUTES = (0o100644 << 16) >>> 0;

/**
 * Whether the archive needs ZIP64 records: when the central directory would start at or beyond 4 GiB - 1,
 * which covers every entry whose sizes do not fit 32 bits (the entry comes before the directory).
 */
export function needsZip64(entry: ZipEntry): boolean {
  const header = LOCAL_HEADER + Buffer.byteLength(entry.name) + AES_EXTRA + TIME_EXTRA;
  return header + entry.size + AES_OVERHEAD >= MAX32;
}

/** The exact length of the archive {@link encryptedZip} makes of `entry`, known before the first byte. */
export function encryptedZipLength(
  entry: ZipEntry,
  options: Pick<EncryptedZipOptions, 'forceZip64'> = {},
): number {
  const zip64 = options.forceZip64 === true || needsZip64(entry);
  const perHeader = Buffer.byteLength(entry.name) + (zip64 ? ZIP64_EXTRA : 0) + AES_EXTRA + TIME_EXTRA;
  const ends = (zip64 ? ZIP64_END + ZIP64_LOCATOR : 0) + END;
  return LOCAL_HEADER + perHeader + entry.size + AES_OVERHEAD + CENTRAL_HEADER + perHeader + ends;
}

/**
 * Where the entry's bytes come from: any stream, or an open file, which is read straight into the
 * buffers the ciphertext is made in (with a stream every chunk is a new buffer besides the ciphertext's;
 * measured in the API, that doubled the garbage collections per byte, which cost more than the encryption).
 */
export type ZipSource = Readable | FileHandle;

/**
 * The archive as a stream, whose ciphertext chunks may be given back (see {@link EncryptedZipStream.release})
 * once the consumer is done with them, to be filled again.
 */
export type EncryptedZip = Readable & Pick<EncryptedZipStream, 'release'>;

/** Bytes of ciphertext per chunk: each chunk but the last is full (one read of a file source). */
const CHUNK = 256 * 1024;
const BLOCK = 16;

/**
 * Chunk buffers of archives that have ended, for the next archives: without them every download allocated
 * its own (1-4 of 256 KiB), memory outside V8's heap that the allocator maps afresh and the kernel zeroes, and
 * whose growth V8 answers with full collections (10-15 % of the writer's CPU for 1 MiB archives). At most
 * POOLED_CHUNKS are kept (8 MiB); a buffer still lent out when its archive ends joins once given back.
 */
const POOLED_CHUNKS = 32;
const pooledChunks: Buffer[] = [];

function takeChunk(): Buffer {
  return pooledChunks.pop() ?? Buffer.allocUnsafeSlow(CHUNK);
}

function poolChunk(chunk: Buffer): void {
  if (pooledChunks.length < POOLED_CHUNKS) pooledChunks.push(chunk);
}

/** For tests: how many chunk buffers wait in the pool. */
export function pooledChunkCount(): number {
  return pooledChunks.length;
}

/** The entry's bytes in order, copied or read into a buffer the caller gives. */
interface ByteSource {
  /** Puts the next bytes into `into` from `at` on, at most up to its end; how many (0: the end). */
  read(into: Buffer, at: number): Promise<number>;
  close(): Promise<void>;
}

/** Bytes a stream source may deliver ahead of the reads before it is paused (besides its own buffer). */
const STREAM_AHEAD = 64 * 1024;

/**
 * A stream's bytes, taken piece by piece as it emits them ('data'), paused when the reads fall behind, and
 * copied as many pieces as fit per read. Not its async iterator: that reads all the stream has buffered at
 * once, which the stream first joins into a new buffer: an allocation and a copy on top of the copy into
 * the chunk whenever the stream is ahead of the archive (40 MiB of garbage per 64 MiB of 16 KiB pieces).
 */
function streamBytes(body: Readable): ByteSource {
  const pieces: Buffer[] = [];
  let queued = 0;
  let started = false;
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const start = (): void => {
    started = true;
    finished(body, (e) => {
      ended = true;
      failure = e ?? undefined;
      wake?.();
    });
    body.on('data', (piece: Buffer) => {
      pieces.push(piece);
      queued += piece.length;
      if (queued >= STREAM_AHEAD) body.pause();
      wake?.();
    });
  };
  return {
    async read(into, at) {
      if (!started) start();
      while (queued === 0) {
        if (failure !== undefined) throw failure;
        if (ended) return 0;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
      let n = 0;
      while (at + n < into.length && pieces.length > 0) {
        const piece = pieces[0]!;
        const copied = piece.copy(into, at + n);
        n += copied;
        if (copied === piece.length) pieces.shift();
        else pieces[0] = piece.subarray(copied);
      }
      queued -= n;
      if (queued < STREAM_AHEAD && !ended) body.resume();
      return n;
    },
    close() {
      body.destroy();
      return Promise.resolve();
    },
  };
}

function fileBytes(file: FileHandle): ByteSource {
  let position = 0;
  return {
    async read(into, at) {
      const { bytesRead } = await file.read(into, at, into.length - at, position);
      position += bytesRead;
      return bytesRead;
    },
    close: () => file.close(),
  };
}

/**
 * A ZIP archive holding `source` as one WinZip AES-256 (AE-2) encrypted, stored entry, written as the
 * archive is read: `source` is read only when the consumer wants more, so memory stays bounded whatever
 * the size and a slow reader slows the reading. Stored, not deflated: samples are mostly packed or
 * encrypted already, and deflate would cut the download rate for little gain. The sizes go into the local
 * header (no data descriptor), so `source` must hold exactly `entry.size` bytes; otherwise, or if reading
 * it fails, the returned stream is destroyed with an error. Either way, and at the end, `source` is
 * destroyed or closed.
 */
export function encryptedZip(
  entry: ZipEntry,
  source: ZipSource,
  password: string,
  options: EncryptedZipOptions = {},
): EncryptedZip {
  const bytes = source instanceof Readable ? streamBytes(source) : fileBytes(source);
  if (!Number.isSafeInteger(entry.size) || entry.size < 0 || Buffer.byteLength(entry.name) > 0xffff) {
    void bytes.close().catch(() => undefined);
    throw new RangeError(`cannot archive an entry of ${entry.size} bytes named ${entry.name.slice(0, 80)}`);
  }
  if (options.salt !== undefined && options.salt.length !== SALT_LENGTH) {
    void bytes.close().catch(() => undefined);
    throw new RangeError(`the salt must be ${SALT_LENGTH} bytes`);
  }
  return new EncryptedZipStream(entry, bytes, password, options);
}

const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

class EncryptedZipStream extends Readable {
  private encryptor: WinZipAesEncryptor | null = null;
  private readonly zip64: boolean;
  private readonly salt: Buffer;
  private readonly modified: Date;
  private readonly header: Buffer;
  private received = 0;
  /** Chunk buffers given back, to be filled again. */
  private readonly spare: Buffer[] = [];
  /**
   * The buffers of the chunks pushed and not given back, by their memory; weakly, as a consumer need not
   * give any back.
   */
  private readonly lent = new WeakMap<ArrayBufferLike, Buffer>();

  constructor(
    private readonly entry: ZipEntry,
    private readonly source: ByteSource,
    private readonly password: string,
    options: EncryptedZipOptions,
  ) {
    super();
    this.salt = options.salt ?? randomBytes(SALT_LENGTH);
    this.modified = options.modified ?? new Date();
    this.zip64 = options.forceZip64 === true || needsZip64(entry);
    this.header = this.localHeader();
  }

  /**
   * Gives back a ciphertext chunk this stream pushed, once nothing reads its bytes any more (for a socket:
   * once the write's callback has fired), so that its memory holds a later chunk instead of waiting for a
   * garbage collection. Other buffers are ignored, and chunks never given back are left to the collector.
   * Giving back a chunk whose bytes are still to be read corrupts them, and since chunks pass from one
   * archive to the next (and hold a sample's plaintext between its read and its encryption), it can put
   * another download's bytes into that response: only give back what a write callback without an error
   * has reported written.
   */
  release(chunk: Buffer): void {
    const buffer = this.lent.get(chunk.buffer);
    if (buffer === undefined) return;
    this.lent.delete(chunk.buffer);
    if (this.destroyed) poolChunk(buffer);
    else this.spare.push(buffer);
  }

  override _construct(callback: (error?: Error | null) => void): void {
    deriveKeys(this.password, this.salt).then(
      (keys) => {
        this.encryptor = new WinZipAesEncryptor(keys);
        this.push(Buffer.concat([this.header, this.salt, keys.verifier]));
        callback();
      },
      (e: unknown) => callback(asError(e)),
    );
  }

  // Readable calls _read again only after a push, so one step runs at a time.
  override _read(): void {
    this.step().catch((e: unknown) => this.destroy(asError(e)));
  }

  /**
   * Fills a chunk buffer from the source, to its end or the source's; encrypts its whole blocks where they
   * lie and pushes them; at the end, pushes the rest. Every chunk but the last is full whatever sizes the
   * source comes in, and each step pushes one: the readable then holds at most one chunk beyond its
   * high-water mark. (Pushing what each read gave, a stream's 1.5-64 KiB pieces each in its own 256 KiB
   * buffer, let a stalled client hold 1 MiB per download at 16 KiB pieces and 11 MiB at 1500 bytes.)
   */
  private async step(): Promise<void> {
    const encryptor = this.encryptor!;
    const chunk = this.spare.pop() ?? takeChunk();
    let filled = 0;
    let ended = false;
    while (filled < chunk.length) {
      const n = await this.source.read(chunk, filled);
      if (this.destroyed) return;
      if (n === 0) {
        ended = true;
        break;
      }
      this.received += n;
      if (this.received > this.entry.size) {
        throw new Error(`the sample has more than the ${this.entry.size} bytes recorded for it`);
      }
      filled += n;
    }
    if (ended && this.received !== this.entry.size) {
      throw new Error(`the sample has ${this.received} bytes, not the ${this.entry.size} recorded for it`);
    }
    const whole = filled - (filled % BLOCK); // all of it unless the source ended
    if (whole > 0) encryptor.encryptInPlace(chunk.subarray(0, whole));
    // Copied by the encryptor (under a block: held back for final) before the push lends the chunk out.
    if (whole < filled) {
      encryptor.update(chunk.subarray(whole, filled));
      chunk.fill(0, whole, filled); // the plaintext tail leaves no copy in a pooled chunk
    }
    if (whole > 0) {
      this.lent.set(chunk.buffer, chunk);
      this.push(chunk.subarray(0, whole));
    } else {
      this.spare.push(chunk);
    }
    if (!ended) return;
    const last = encryptor.final();
    this.push(Buffer.concat([last, encryptor.authCode(), this.trailer()]));
    this.push(null);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    for (const chunk of this.spare.splice(0)) poolChunk(chunk);
    this.source.close().then(
      () => callback(error),
      (e: unknown) => callback(error ?? asError(e)),
    );
  }

  private get compressedSize(): number {
    return this.entry.size + AES_OVERHEAD;
  }

  private localHeader(): Buffer {
    const name = Buffer.from(this.entry.name, 'utf8');
    const extra = this.extraFields();
    const b = Buffer.alloc(LOCAL_HEADER + name.length + extra.length);
    b.writeUInt32LE(0x04034b50, 0);
    b.writeUInt16LE(VERSION_NEEDED, 4);
    b.writeUInt16LE(FLAG_ENCRYPTED, 6);
    b.writeUInt16LE(METHOD_AES, 8);
    this.writeDosTime(b, 10);
    b.writeUInt32LE(0, 14); // AE-2 leaves the CRC out: the authentication code checks the data
    b.writeUInt32LE(this.zip64 ? MAX32 : this.compressedSize, 18);
    b.writeUInt32LE(this.zip64 ? MAX32 : this.entry.size, 22);
    b.writeUInt16LE(name.length, 26);
    b.writeUInt16LE(extra.length, 28);
    name.copy(b, LOCAL_HEADER);
    extra.copy(b, LOCAL_HEADER + name.length);
    return b;
  }

  /** Central directory, then (ZIP64) the ZIP64 end record and its locator, then the end record. */
  private trailer(): Buffer {
    const name = Buffer.from(this.entry.name, 'utf8');
    const extra = this.extraFields();
    const directoryOffset = this.header.length + this.compressedSize;
    const directorySize = CENTRAL_HEADER + name.length + extra.length;
    const b = Buffer.alloc(directorySize + (this.zip64 ? ZIP64_END + ZIP64_LOCATOR : 0) + END);

    b.writeUInt32LE(0x02014b50, 0);
    b.writeUInt16LE(VERSION_MADE_BY, 4);
    b.writeUInt16LE(VERSION_NEEDED, 6);
    b.writeUInt16LE(FLAG_ENCRYPTED, 8);
    b.writeUInt16LE(METHOD_AES, 10);
    this.writeDosTime(b, 12);
    b.writeUInt32LE(0, 16);
    b.writeUInt32LE(this.zip64 ? MAX32 : this.compressedSize, 20);
    b.writeUInt32LE(this.zip64 ? MAX32 : this.entry.size, 24);
    b.writeUInt16LE(name.length, 28);
    b.writeUInt16LE(extra.length, 30);
    b.writeUInt16LE(0, 32); // comment length
    b.writeUInt16LE(0, 34); // disk number
    b.writeUInt16LE(0, 36); // internal attributes
    b.writeUInt32LE(EXTERNAL_ATTRIBUTES, 38);
    b.writeUInt32LE(0, 42); // offset of the local header
    name.copy(b, CENTRAL_HEADER);
    extra.copy(b, CENTRAL_HEADER + name.length);

    let at = directorySize;
    if (this.zip64) {
      const zip64End = directoryOffset + directorySize;
      b.writeUInt32LE(0x06064b50, at);
      b.writeBigUInt64LE(BigInt(ZIP64_END - 12), at + 4); // size of the rest of the record
      b.writeUInt16LE(VERSION_MADE_BY, at + 12);
      b.writeUInt16LE(VERSION_NEEDED, at + 14);
      b.writeUInt32LE(0, at + 16); // this disk
      b.writeUInt32LE(0, at + 20); // disk of the central directory
      b.writeBigUInt64LE(1n, at + 24); // entries on this disk
      b.writeBigUInt64LE(1n, at + 32); // entries
      b.writeBigUInt64LE(BigInt(directorySize), at + 40);
      b.writeBigUInt64LE(BigInt(directoryOffset), at + 48);
      at += ZIP64_END;
      b.writeUInt32LE(0x07064b50, at);
      b.writeUInt32LE(0, at + 4); // disk of the ZIP64 end record
      b.writeBigUInt64LE(BigInt(zip64End), at + 8);
      b.writeUInt32LE(1, at + 16); // disks
      at += ZIP64_LOCATOR;
    }
    b.writeUInt32LE(0x06054b50, at);
    b.writeUInt16LE(0, at + 4); // this disk
    b.writeUInt16LE(0, at + 6); // disk of the central directory
    b.writeUInt16LE(1, at + 8);
    b.writeUInt16LE(1, at + 10);
    b.writeUInt32LE(directorySize, at + 12);
    // -1 sends readers to the ZIP64 end record (APPNOTE 4.4.1.4).
    b.writeUInt32LE(this.zip64 ? MAX32 : directoryOffset, at + 16);
    b.writeUInt16LE(0, at + 20); // comment length
    return b;
  }

  /** ZIP64 sizes (when needed), the AES field (0x9901) and the modification time in UTC (0x5455). */
  private extraFields(): Buffer {
    const b = Buffer.alloc((this.zip64 ? ZIP64_EXTRA : 0) + AES_EXTRA + TIME_EXTRA);
    let at = 0;
    if (this.zip64) {
      b.writeUInt16LE(0x0001, at);
      b.writeUInt16LE(16, at + 2);
      b.writeBigUInt64LE(BigInt(this.entry.size), at + 4);
      b.writeBigUInt64LE(BigInt(this.compressedSize), at + 12);
      at += ZIP64_EXTRA;
    }
    b.writeUInt16LE(0x9901, at);
    b.writeUInt16LE(7, at + 2);
    b.writeUInt16LE(2, at + 4); // AE-2
    b.write('AE', at + 6, 'latin1');
    b.writeUInt8(3, at + 8); // AES-256
    b.writeUInt16LE(0, at + 9); // the real method: stored
    at += AES_EXTRA;
    b.writeUInt16LE(0x5455, at);
    b.writeUInt16LE(5, at + 2);
    b.writeUInt8(1, at + 4); // flags: modification time only
    b.writeUInt32LE(Math.max(0, Math.min(MAX32, Math.floor(this.modified.getTime() / 1000))), at + 5);
    return b;
  }

  /** MS-DOS time and date (local time, as zip tools read it), clamped to 1980..2107. */
  private writeDosTime(b: Buffer, at: number): void {
    const d = this.modified;
    const year = Math.min(2107, Math.max(1980, d.getFullYear()));
    const early = d.getFullYear() < 1980;
    const time = early ? 0 : (d.getHours() << 11) | (d.getMinutes() << 5) | (d.getSeconds() >> 1);
    const date = early ? (1 << 5) | 1 : ((year - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate();
    b.writeUInt16LE(time, at);
    b.writeUInt16LE(date, at + 2);
  }
}
