import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { type EncryptedZip, type ZipSource, encryptedZip, pooledChunkCount } from './encrypted-zip.js';

const NAME = 'b'.repeat(64);
const salt = Buffer.alloc(16, 9);
const modified = new Date('2026-03-04T05:06:07Z');

/** The archive's bytes, each chunk copied and (with `giveBack`) given back and scribbled over at once. */
async function bytesOf(
  zip: EncryptedZip,
  giveBack: boolean,
): Promise<{ bytes: Buffer; memories: number; used: Set<ArrayBufferLike> }> {
  const copies: Buffer[] = [];
  const memories = new Set<ArrayBufferLike>();
  for await (const chunk of zip as AsyncIterable<Buffer>) {
    copies.push(Buffer.from(chunk));
    memories.add(chunk.buffer);
    if (giveBack) {
      zip.release(chunk);
      chunk.fill(0xee); // what a later chunk does to it, sooner
    }
  }
  return { bytes: Buffer.concat(copies), memories: memories.size, used: memories };
}

describe('encryptedZip chunks given back', () => {
  const data = randomBytes(3 * 1024 * 1024 + 7);
  let dir = '';
  let path = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'zip-release-'));
    path = join(dir, 'sample');
    await writeFile(path, data);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const sources: Array<[string, () => Promise<ZipSource>]> = [
    ['a file', () => open(path, 'r')],
    [
      'a stream of odd pieces',
      () => {
        const sizes = [1, 5, 17, 300_000, 15, 16, 65_535];
        return Promise.resolve(
          Readable.from(
            (function* () {
              for (let at = 0, i = 0; at < data.length; i++) {
                const n = sizes[i % sizes.length] ?? 1;
                yield Buffer.from(data.subarray(at, at + n));
                at += n;
              }
            })(),
          ),
        );
      },
    ],
  ];
  for (const [what, source] of sources) {
    it(`gives the same archive, filling given-back chunks again, from ${what}`, async () => {
      const zip = (s: ZipSource) =>
        encryptedZip({ name: NAME, size: data.length }, s, 'pw', { salt, modified });
      const kept = await bytesOf(zip(await source()), false);
      const given = await bytesOf(zip(await source()), true);
      assert.ok(given.bytes.equals(kept.bytes), 'same archive');
      assert.ok(
        given.memories < kept.memories,
        `${given.memories} buffers used, ${kept.memories} without giving back`,
      );
    });
  }

  it('hands the chunks of an ended archive to the next archives, given back before or after its end', async () => {
    const zip = () =>
      encryptedZip({ name: NAME, size: data.length }, Readable.from([data]), 'pw', { salt, modified });
    const first = await bytesOf(zip(), true);
    assert.ok(pooledChunkCount() > 0, 'chunks given back before the end are pooled when it ends');
    const second = await bytesOf(zip(), true);
    assert.ok(second.bytes.equals(first.bytes), 'same archive from reused chunks');
    assert.ok(
      [...second.used].some((memory) => first.used.has(memory)),
      'the second archive is made in chunks of the first',
    );

    // Chunks kept by the consumer past the end join the pool when given back.
    const late = zip();
    const held: Buffer[] = [];
    for await (const chunk of late as AsyncIterable<Buffer>) held.push(chunk);
    assert.ok(late.destroyed);
    const before = pooledChunkCount();
    for (const chunk of held) late.release(chunk);
    assert.ok(pooledChunkCount() > before, `${pooledChunkCount()} pooled after, ${before} before`);
  });

  it('ignores buffers it did not push', async () => {
    const zip = encryptedZip({ name: NAME, size: 4 }, Readable.from([Buffer.from('abcd')]), 'pw');
    const stranger = Buffer.alloc(16, 1);
    zip.release(stranger);
    zip.release(stranger);
    assert.ok((await bytesOf(zip, true)).bytes.length > 4);
  });
});
