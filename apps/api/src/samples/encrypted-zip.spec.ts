import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { type FileHandle, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { after, before, describe, it, mock } from 'node:test';
import { Uint8ArrayReader, Uint8ArrayWriter, ZipReader, configure } from '@zip.js/zip.js';
import { encryptedZip, encryptedZipLength, needsZip64 } from './encrypted-zip.js';
import { AUTH_CODE_LENGTH, SALT_LENGTH, VERIFIER_LENGTH, deriveKeys } from './winzip-aes.js';

configure({ useWebWorkers: false });

async function pollUntilClosed(file: FileHandle): Promise<void> {
  for (let i = 0; i < 100 && file.fd !== -1; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(file.fd, -1, 'closed after destroy');
}
const run = promisify(execFile);
const NAME = 'a'.repeat(64);

/** `data` as a stream of pieces of the given sizes (cycled), each a copy at an odd offset. */
function pieces(data: Buffer, sizes: number[] = [65536]): Readable {
  return Readable.from(
    (function* () {
      let i = 0;
      for (let at = 0; at < data.length; i++) {
        const n = sizes[i % sizes.length] ?? 1;
        const odd = Buffer.alloc(Math.min(n, data.length - at) + 1);
        data.copy(odd, 1, at, at + n);
        yield odd.subarray(1);
        at += n;
      }
    })(),
  );
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function zipOf(
  data: Buffer,
  options: { forceZip64?: boolean; sizes?: number[] } = {},
): Promise<Buffer> {
  return collect(
    encryptedZip({ name: NAME, size: data.length }, pieces(data, options.sizes), 'infected', {
      forceZip64: options.forceZip64 ?? false,
    }),
  );
}

/** The end records of an archive held in memory (the ZIP64 ones when the end record points there). */
function endRecords(zip: Buffer): { entries: number; directorySize: number; directoryOffset: number } {
  const end = zip.length - 22;
  assert.equal(zip.readUInt32LE(end), 0x06054b50, 'end record last, no comment');
  if (zip.readUInt32LE(end + 16) !== 0xffffffff) {
    return {
      entries: zip.readUInt16LE(end + 10),
      directorySize: zip.readUInt32LE(end + 12),
      directoryOffset: zip.readUInt32LE(end + 16),
    };
  }
  const locator = end - 20;
  assert.equal(zip.readUInt32LE(locator), 0x07064b50, 'ZIP64 locator before the end record');
  const record = Number(zip.readBigUInt64LE(locator + 8));
  assert.equal(record, locator - 56, 'the locator points at the ZIP64 end record');
  assert.equal(zip.readUInt32LE(record), 0x06064b50);
  return {
    entries: Number(zip.readBigUInt64LE(record + 32)),
    directorySize: Number(zip.readBigUInt64LE(record + 40)),
    directoryOffset: Number(zip.readBigUInt64LE(record + 48)),
  };
}

/** Extra fields by id. */
function extras(block: Buffer): Map<number, Buffer> {
  const found = new Map<number, Buffer>();
  for (let at = 0; at + 4 <= block.length;) {
    const length = block.readUInt16LE(at + 2);
    found.set(block.readUInt16LE(at), block.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return found;
}

describe('encryptedZip', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'specimen-zip-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const sevenZip = async (zip: Buffer, password: string, label: string): Promise<Buffer> => {
    const path = join(dir, `${label}.zip`);
    await writeFile(path, zip);
    await run('7z', ['t', `-p${password}`, path]);
    await run('7z', ['x', `-p${password}`, `-o${join(dir, label)}`, path]);
    return readFile(join(dir, label, NAME));
  };

  for (const size of [0, 1, 15, 16, 17, 65_536, 200_003]) {
    it(`makes an archive of ${size} bytes that 7-Zip extracts byte-exact with the password, and not without`, async () => {
      const data = randomBytes(size);
      const zip = await zipOf(data, { sizes: [1, 4095, 65536, 17] });
      if (size >= 16) assert.ok(!zip.includes(data.subarray(0, 16)), 'the data is not in the clear');
      assert.ok((await sevenZip(zip, 'infected', `s${size}`)).equals(data));
      const listing = await run('7z', ['l', '-slt', join(dir, `s${size}.zip`)]);
      assert.match(listing.stdout, /Method = AES-256 Store/);
      assert.match(listing.stdout, new RegExp(`Path = ${NAME}`));
      await assert.rejects(run('7z', ['t', '-pwrong', join(dir, `s${size}.zip`)]));
    });
  }

  it('reads an open file the same way (7-Zip extracts it byte-exact) and closes it at the end or on error', async () => {
    const data = randomBytes(600_001); // more than two of the file chunks, and not a whole number of blocks
    const path = join(dir, 'source.bin');
    await writeFile(path, data);
    const file = await open(path, 'r');
    const zip = await collect(encryptedZip({ name: NAME, size: data.length }, file, 'infected'));
    assert.ok((await sevenZip(zip, 'infected', 'fromfile')).equals(data));
    await pollUntilClosed(file);

    const short = await open(path, 'r');
    await assert.rejects(
      collect(encryptedZip({ name: NAME, size: data.length + 1 }, short, 'infected')),
      /600001 bytes, not the 600002/,
    );
    await pollUntilClosed(short);
    const left = await open(path, 'r');
    const zipped = encryptedZip({ name: NAME, size: data.length }, left, 'infected');
    zipped.destroy();
    await pollUntilClosed(left);
  });

  it('knows its exact length before the first byte', async () => {
    for (const size of [0, 1, 17, 70_001]) {
      for (const forceZip64 of [false, true]) {
        const zip = await zipOf(randomBytes(size), { forceZip64 });
        assert.equal(
          encryptedZipLength({ name: NAME, size }, { forceZip64 }),
          zip.length,
          `${size} ${forceZip64}`,
        );
      }
    }
  });

  it('writes sizes up front (no data descriptor), the AE-2 field, and one entry', async () => {
    const data = randomBytes(1000);
    const zip = await zipOf(data);
    assert.equal(zip.readUInt32LE(0), 0x04034b50);
    assert.equal(zip.readUInt16LE(6) & 0x0008, 0, 'no data descriptor');
    assert.equal(zip.readUInt16LE(6) & 0x0001, 1, 'encrypted');
    assert.equal(zip.readUInt16LE(8), 99);
    assert.equal(zip.readUInt32LE(14), 0, 'AE-2 has no CRC');
    assert.equal(zip.readUInt32LE(18), 1000 + SALT_LENGTH + VERIFIER_LENGTH + AUTH_CODE_LENGTH);
    assert.equal(zip.readUInt32LE(22), 1000);
    const nameLength = zip.readUInt16LE(26);
    assert.equal(zip.subarray(30, 30 + nameLength).toString(), NAME);
    const aes = extras(zip.subarray(30 + nameLength, 30 + nameLength + zip.readUInt16LE(28))).get(0x9901);
    assert.deepEqual(aes, Buffer.from([2, 0, 0x41, 0x45, 3, 0, 0]), 'AE-2, AES-256, stored');
    const end = endRecords(zip);
    assert.equal(end.entries, 1);
    assert.equal(end.directoryOffset + end.directorySize, zip.length - 22);
    assert.equal(zip.readUInt32LE(end.directoryOffset), 0x02014b50);
  });

  it('fails 7-Zip’s test when a ciphertext byte is changed (the authentication code)', async () => {
    const zip = await zipOf(randomBytes(5000));
    const at = 30 + 64 + 11 + 9 + 18 + 2500; // a byte in the middle of the ciphertext
    zip.writeUInt8(zip.readUInt8(at) ^ 1, at);
    await assert.rejects(sevenZip(zip, 'infected', 'tampered'));
  });

  it('writes ZIP64 records that 7-Zip and zip.js read when asked to for a small entry', async () => {
    const data = randomBytes(70_001);
    const zip = await zipOf(data, { forceZip64: true });
    assert.equal(zip.readUInt32LE(18), 0xffffffff);
    assert.equal(zip.readUInt32LE(zip.length - 22 + 16), 0xffffffff);
    assert.equal(endRecords(zip).directoryOffset + endRecords(zip).directorySize, zip.length - 22 - 20 - 56);
    assert.ok((await sevenZip(zip, 'infected', 'z64')).equals(data));
    const listing = await run('7z', ['l', '-slt', join(dir, 'z64.zip')]);
    assert.match(listing.stdout, /Characteristics = Zip64 /);
    const reader = new ZipReader(new Uint8ArrayReader(zip));
    const [entry] = await reader.getEntries();
    assert.ok(entry !== undefined && !entry.directory);
    assert.ok(
      Buffer.from(await entry.getData(new Uint8ArrayWriter(), { password: 'infected' })).equals(data),
    );
    await reader.close();
  });

  it('is read by zip.js with the password, which refuses a wrong one', async () => {
    const data = randomBytes(100_000);
    const reader = new ZipReader(new Uint8ArrayReader(await zipOf(data, { sizes: [333] })));
    const [entry] = await reader.getEntries();
    assert.ok(entry !== undefined && !entry.directory);
    assert.equal(entry.filename, NAME);
    assert.equal(entry.encrypted, true);
    assert.ok(
      Buffer.from(await entry.getData(new Uint8ArrayWriter(), { password: 'infected' })).equals(data),
    );
    await assert.rejects(entry.getData(new Uint8ArrayWriter(), { password: 'nope' }));
    await reader.close();
  });

  it('fails when the body is shorter or longer than the size given, or fails itself', async () => {
    const data = randomBytes(1000);
    await assert.rejects(
      collect(encryptedZip({ name: NAME, size: 1001 }, pieces(data), 'x')),
      /1000 bytes, not the 1001/,
    );
    await assert.rejects(
      collect(encryptedZip({ name: NAME, size: 999 }, pieces(data), 'x')),
      /more than the 999/,
    );
    const broken = new Readable({
      read() {
        this.destroy(new Error('disk on fire'));
      },
    });
    await assert.rejects(collect(encryptedZip({ name: NAME, size: 10 }, broken, 'x')), /disk on fire/);
    assert.throws(() => encryptedZip({ name: NAME, size: -1 }, pieces(data), 'x'), RangeError);
  });

  it('fails when the body is destroyed before its end, after some bytes or before any', async () => {
    for (const pieces of [1, 0]) {
      const body = new Readable({ read() {} });
      for (let i = 0; i < pieces; i++) body.push(Buffer.alloc(1000));
      const zip = encryptedZip({ name: NAME, size: 5000 }, body, 'x');
      setImmediate(() => body.destroy());
      await assert.rejects(collect(zip), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
    }
  });

  it('reads the body only as fast as the archive is consumed, and stops reading it when the archive is destroyed', async () => {
    const size = 256 * 1024 * 1024;
    let produced = 0;
    const block = Buffer.alloc(65536);
    const body = new Readable({
      read() {
        produced += block.length;
        this.push(produced <= size ? block : null);
      },
    });
    const zip = encryptedZip({ name: NAME, size }, body, 'infected');
    let consumed = 0;
    await new Promise<void>((resolve) => {
      zip.on('data', (chunk: Buffer) => {
        consumed += chunk.length;
        if (consumed >= 1024 * 1024) {
          zip.pause();
          resolve();
        }
      });
    });
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    assert.ok(produced < consumed + 1024 * 1024, `read ${produced} bytes for ${consumed} consumed`);
    zip.destroy();
    await new Promise((r) => setImmediate(r));
    assert.ok(body.destroyed, 'the body is released');
  });

  for (const sizes of [[16_384], [1500], [1, 5, 17, 1500, 16_384, 65_535]]) {
    it(`pushes full chunks from a stream of ${sizes.join('/')}-byte pieces, holding one chunk for a stalled reader, and 7-Zip extracts it`, async () => {
      const data = randomBytes(3 * 1024 * 1024 + 7);
      const zip = encryptedZip({ name: NAME, size: data.length }, pieces(data, sizes), 'infected');
      // Every chunk the archive pushes, to see the memory behind the bytes its reader has not taken yet.
      const pushed: Buffer[] = [];
      let pushedAll = false;
      const push = zip.push.bind(zip);
      zip.push = (chunk: Buffer | null) => {
        if (chunk === null) pushedAll = true;
        else pushed.push(chunk);
        return push(chunk);
      };
      const heldBehind = (taken: number): number => {
        const memories = new Set<ArrayBufferLike>();
        let at = 0;
        for (const chunk of pushed) {
          at += chunk.length;
          if (at > taken) memories.add(chunk.buffer);
        }
        return [...memories].reduce((sum, memory) => sum + memory.byteLength, 0);
      };
      // A reader that takes a chunk, then stalls until the archive stops reading ahead (above its
      // high-water mark, the stream asks for no more), as a slow client's socket makes the route do.
      const taken: Buffer[] = [];
      let takenLength = 0;
      let most = 0;
      const reader = zip[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
      for (let stalls = 0; ; stalls++) {
        const step = await reader.next();
        if (step.done === true) break;
        taken.push(step.value);
        takenLength += step.value.length;
        if (stalls % 3 !== 0) continue;
        for (let i = 0; i < 500 && !pushedAll && zip.readableLength < zip.readableHighWaterMark; i++) {
          await new Promise((r) => setTimeout(r, 2));
        }
        most = Math.max(most, heldBehind(takenLength));
      }
      // The chunks are 256 KiB: 1 MiB was held at 16 KiB pieces, 11 MiB at 1500 bytes.
      assert.ok(most <= 512 * 1024, `${most} bytes of memory held behind the bytes not yet read`);
      // Between the header and the trailer, all but the last.
      const full = pushed.slice(1, -2).map((chunk) => chunk.length);
      assert.ok(
        full.every((n) => n === full[0] && n > Math.max(...sizes)),
        `chunk sizes ${[...new Set(full)].join(', ')}`,
      );
      assert.ok(
        (await sevenZip(Buffer.concat(taken), 'infected', `stalled-${sizes.join('-')}`)).equals(data),
      );
    });
  }

  it('copies a byte stream’s pieces as they come, without the stream joining them into new buffers first', async () => {
    // A byte stream (as a network response is) that has more than one piece buffered when read: its async
    // iterator, or read(), would join them into a new buffer.
    const data = randomBytes(4 * 1024 * 1024);
    let at = 0;
    const body = new Readable({
      read() {
        this.push(at < data.length ? data.subarray(at, (at += 16_384)) : null);
      },
    });
    const zip = encryptedZip({ name: NAME, size: data.length }, body, 'infected');
    const allocations = mock.method(Buffer, 'allocUnsafe');
    try {
      await pipeline(
        zip,
        new Writable({
          write(chunk: Buffer, _e, callback) {
            zip.release(chunk);
            callback();
          },
        }),
      );
    } finally {
      allocations.mock.restore();
    }
    const allocated = allocations.mock.calls.reduce((sum, call) => sum + (call.arguments[0] ?? 0), 0);
    assert.ok(allocated < 64 * 1024, `${allocated} bytes allocated for ${data.length}`);
  });

  it('switches to ZIP64 exactly when the directory would start at 4 GiB - 1 or later', () => {
    // Local header (30) + name + AES field (11) + time field (9), then the data and 28 bytes of AES overhead.
    const limit = 0xffffffff - (30 + 64 + 11 + 9) - 28;
    assert.equal(needsZip64({ name: NAME, size: limit - 1 }), false);
    assert.equal(needsZip64({ name: NAME, size: limit }), true);
    assert.equal(needsZip64({ name: NAME, size: 4 * 1024 ** 3 }), true);
    assert.equal(needsZip64({ name: NAME, size: 0 }), false);
  });

  it('streams an entry over 4 GiB with ZIP64 sizes, a valid authentication code and the counter where it should be', async () => {
    // Generated zeros, never written to disk: the head and tail of the archive are kept, the middle is
    // only counted and authenticated.
    const size = 4 * 1024 ** 3 + 5;
    const block = Buffer.alloc(1024 * 1024);
    let left = size;
    const body = new Readable({
      read() {
        if (left === 0) return void this.push(null);
        const n = Math.min(left, block.length);
        left -= n;
        this.push(n === block.length ? block : block.subarray(0, n));
      },
    });
    const salt = randomBytes(SALT_LENGTH);
    const keys = await deriveKeys('infected', salt);
    const hmac = createHmac('sha1', keys.hmacKey);
    // Local header (30), name, ZIP64 field (20), AES field (11), time field (9); then salt and verifier.
    const cipherStart = 30 + 64 + 20 + 11 + 9 + SALT_LENGTH + VERIFIER_LENGTH;
    const cipherEnd = cipherStart + size;
    const head: Buffer[] = [];
    let headLength = 0;
    let tail: Buffer = Buffer.alloc(0);
    let total = 0;
    await pipeline(
      encryptedZip({ name: NAME, size }, body, 'infected', { salt }),
      new Writable({
        write(chunk: Buffer, _e, callback) {
          if (headLength < 4096) {
            head.push(chunk.subarray(0, 4096 - headLength));
            headLength += Math.min(chunk.length, 4096 - headLength);
          }
          const from = Math.max(total, cipherStart);
          const to = Math.min(total + chunk.length, cipherEnd);
          if (from < to) hmac.update(chunk.subarray(from - total, to - total));
          total += chunk.length;
          tail = chunk.length >= 4096 ? chunk.subarray(-4096) : Buffer.concat([tail, chunk]).subarray(-4096);
          callback();
        },
      }),
    );
    const start = Buffer.concat(head);
    const nameLength = start.readUInt16LE(26);
    const local = extras(start.subarray(30 + nameLength, 30 + nameLength + start.readUInt16LE(28)));
    assert.equal(start.readUInt32LE(18), 0xffffffff);
    assert.equal(start.readUInt32LE(22), 0xffffffff);
    const zip64 = local.get(0x0001);
    assert.ok(zip64 !== undefined && zip64.length === 16);
    assert.equal(Number(zip64.readBigUInt64LE(0)), size);
    assert.equal(Number(zip64.readBigUInt64LE(8)), size + 28);
    const dataAt = 30 + nameLength + start.readUInt16LE(28);
    assert.equal(dataAt + SALT_LENGTH + VERIFIER_LENGTH, cipherStart);
    assert.deepEqual(start.subarray(dataAt, dataAt + SALT_LENGTH), salt);

    // The tail: ciphertext end, authentication code, central directory, ZIP64 end, locator, end.
    const tailAt = total - tail.length; // archive offset of tail[0]
    const end = tail.subarray(-22);
    assert.equal(end.readUInt32LE(0), 0x06054b50);
    assert.equal(end.readUInt32LE(16), 0xffffffff);
    const locator = tail.subarray(-42, -22);
    assert.equal(locator.readUInt32LE(0), 0x07064b50);
    const recordAt = Number(locator.readBigUInt64LE(8));
    const record = tail.subarray(recordAt - tailAt, recordAt - tailAt + 56);
    assert.equal(record.readUInt32LE(0), 0x06064b50);
    const directoryOffset = Number(record.readBigUInt64LE(48));
    assert.equal(directoryOffset, dataAt + size + 28);
    const central = tail.subarray(directoryOffset - tailAt);
    assert.equal(central.readUInt32LE(0), 0x02014b50);
    assert.equal(central.readUInt32LE(20), 0xffffffff);
    const centralExtras = extras(central.subarray(46 + 64, 46 + 64 + central.readUInt16LE(30)));
    assert.deepEqual(centralExtras.get(0x0001), zip64);

    // The last 5 bytes of plaintext are zeros, so the ciphertext there is the keystream of the last
    // counter value: AES(little-endian block count) must give it.
    const lastBlock = Math.ceil(size / 16);
    const counter = Buffer.alloc(16);
    counter.writeBigUInt64LE(BigInt(lastBlock));
    const keystream = createCipheriv('aes-256-ecb', keys.aesKey, null).update(counter);
    const lastBytes = size % 16;
    assert.deepEqual(
      tail.subarray(cipherEnd - lastBytes - tailAt, cipherEnd - tailAt),
      keystream.subarray(0, lastBytes),
    );
    const code = tail.subarray(cipherEnd - tailAt, cipherEnd - tailAt + AUTH_CODE_LENGTH);
    assert.deepEqual(code, hmac.digest().subarray(0, AUTH_CODE_LENGTH), 'HMAC-SHA1 of all ciphertext');
    assert.equal(directoryOffset, cipherEnd + AUTH_CODE_LENGTH);
    assert.equal(total, directoryOffset + central.length);
    assert.equal(total, encryptedZipLength({ name: NAME, size }));
  });
});
