import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { type ObjectStore, createObjectStore } from '#storage';
import { listFiles } from '#test-support';
import { Readable, Transform } from 'node:stream';
import { UploadAssemblies } from './assembly.js';
import { writeAt } from './stream-file.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('UploadAssemblies', () => {
  let dir = '';
  let store: ObjectStore;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'specimen-assembly-'));
    store = await createObjectStore(pathToFileURL(dir).href);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** Feeds `chunk` as one PATCH would, in pieces, and commits it. */
  async function send(assemblies: UploadAssemblies, id: string, offset: number, chunk: Buffer) {
    const feed = assemblies.feed(id, offset);
    if (feed === null) return false;
    for (let i = 0; i < chunk.length; i += 4096) feed.write(chunk.subarray(i, i + 4096));
    await feed.commit(chunk.length);
    return true;
  }

  it('streams in-order chunks into one incoming object with the digests of the whole', async () => {
    const assemblies = new UploadAssemblies(store, 4, 60_000);
    const bytes = randomBytes(300 * 1024);
    for (let at = 0; at < bytes.length; at += 64 * 1024) {
      assert.ok(await send(assemblies, 'u1', at, bytes.subarray(at, at + 64 * 1024)));
    }
    const assembled = await assemblies.finish('u1', bytes.length);
    assert.ok(assembled !== null);
    assert.equal(assembled.digests.sha256, sha256(bytes));
    assert.equal(assembled.digests.md5, createHash('md5').update(bytes).digest('hex'));
    assert.equal(assembled.digests.size, bytes.length);
    const stored = [];
    for await (const c of await store.get(assembled.tempKey)) stored.push(c as Buffer);
    assert.ok(Buffer.concat(stored).equals(bytes));
    assert.equal(assemblies.open, 0);
    await store.delete(assembled.tempKey);
  });

  it('gives up on an upload whose chunks come out of step, and leaves no temporary object', async () => {
    const assemblies = new UploadAssemblies(store, 4, 60_000);
    const bytes = randomBytes(3 * 1024);
    // Resumed on this process after starting elsewhere: nothing to continue.
    assert.equal(await send(assemblies, 'u2', 1024, bytes.subarray(1024, 2048)), false);
    assert.ok(await send(assemblies, 'u3', 0, bytes.subarray(0, 1024)));
    // A gap (a chunk that went to another replica) drops the assembly ...
    assert.equal(await send(assemblies, 'u3', 2048, bytes.subarray(2048)), false);
    assert.equal(assemblies.open, 0);
    // ... so the finish reassembles from the parts.
    assert.equal(await assemblies.finish('u3', bytes.length), null);
    await assemblies.close();
    assert.deepEqual(
      (await listFiles(dir)).filter((f) => !f.startsWith('samples')),
      [],
    );
  });

  it('drops a chunk refused after it was fed, and a second PATCH racing for the same offset', async () => {
    const assemblies = new UploadAssemblies(store, 4, 60_000);
    const first = assemblies.feed('u4', 0);
    assert.ok(first !== null);
    first.write(Buffer.from('corrupted'));
    // While the first PATCH is still feeding, a second one for the same upload cannot join in.
    assert.equal(assemblies.feed('u4', 0), null);
    assert.equal(assemblies.open, 0);
    first.discard();
    const again = assemblies.feed('u5', 0);
    assert.ok(again !== null);
    again.write(Buffer.from('wrong bytes'));
    again.discard();
    assert.equal(await assemblies.finish('u5', 11), null);
    await assemblies.close();
    assert.deepEqual(await listFiles(join(dir, '.tmp')).catch(() => []), []);
  });

  it('assembles at most maxOpen uploads at once, idle ones giving their place, and drops the idle ones', async () => {
    let now = 0;
    const assemblies = new UploadAssemblies(store, 2, 1000, () => now);
    assert.ok(await send(assemblies, 'a', 0, Buffer.from('a')));
    assert.ok(await send(assemblies, 'b', 0, Buffer.from('b')));
    assert.equal(await send(assemblies, 'c', 0, Buffer.from('c')), false);
    now = 1000;
    assert.ok(await send(assemblies, 'a', 1, Buffer.from('a')));
    // Full, but 'b' has not been fed for idleMs: it gives its place to 'd'.
    assert.ok(await send(assemblies, 'd', 0, Buffer.from('d')));
    assert.equal(await send(assemblies, 'b', 1, Buffer.from('b')), false);
    now = 2000;
    assert.equal(assemblies.dropIdle(1000), 2);
    assert.equal(assemblies.open, 0);
    assert.ok(await send(assemblies, 'g', 0, Buffer.from('g')));
    // A PATCH that stops feeding mid-chunk (a hung client) does not keep its place either.
    now = 3000;
    const hung = assemblies.feed('f', 0);
    hung?.write(Buffer.from('f'));
    now = 4000;
    assert.equal(assemblies.dropIdle(1000), 2);
    assert.ok(await send(assemblies, 'e', 0, Buffer.from('e')));
    assert.ok(await send(assemblies, 'e', 1, Buffer.from('e')));
    const a = await assemblies.finish('e', 2);
    assert.equal(a?.digests.sha256, sha256(Buffer.from('ee')));
    if (a !== null) await store.delete(a.tempKey);
    await assemblies.close();
  });

  it("streaming: each chunk is written once into the assembly's file, which the finish links under incoming/", async () => {
    const assemblies = new UploadAssemblies(store, 4, 60_000, Date.now, true);
    const bytes = randomBytes(200 * 1024);
    let streamKey: string | null = null;
    for (let at = 0; at < bytes.length; at += 64 * 1024) {
      const chunk = bytes.subarray(at, at + 64 * 1024);
      const feed = assemblies.feed('s1', at);
      assert.ok(feed !== null && feed.streamKey !== null);
      streamKey ??= feed.streamKey;
      assert.equal(feed.streamKey, streamKey, 'one file for the whole assembly');
      const path = store.localPath(feed.streamKey);
      assert.ok(path !== null);
      // A failed earlier attempt left bytes past the offset: the next write cuts them off.
      if (at > 0)
        await writeAt(path, at, Readable.from([Buffer.from('stale tail')]), new AbortController().signal);
      const written = await writeAt(
        path,
        at,
        Readable.from([chunk]).pipe(
          new Transform({
            transform: (c: Buffer, _e, callback) => {
              feed.write(c);
              callback(null, c);
            },
          }),
        ),
        new AbortController().signal,
      );
      assert.equal(written, chunk.length);
      await feed.commit(chunk.length);
    }
    assert.ok(streamKey !== null);
    const assembled = await assemblies.finish('s1', bytes.length);
    assert.ok(assembled !== null);
    assert.equal(assembled.digests.sha256, sha256(bytes));
    assert.equal(assembled.digests.size, bytes.length);
    const read = async (key: string) => {
      const out = [];
      for await (const c of await store.get(key)) out.push(c as Buffer);
      return Buffer.concat(out);
    };
    assert.ok((await read(assembled.tempKey)).equals(bytes));
    // The upload's own file stays (its parts are ranges of it) until the upload's parts are removed.
    assert.ok((await read(streamKey)).equals(bytes));
    await store.delete(assembled.tempKey);
    await store.delete(streamKey);
    // A finish whose file is not exactly the upload's length is no assembly (reassembled from the parts).
    const short = assemblies.feed('s2', 0);
    assert.ok(short !== null && short.streamKey !== null);
    short.write(Buffer.from('abc'));
    await short.commit(3);
    assert.equal(await assemblies.finish('s2', 3), null);
    await assemblies.close();
  });
});
