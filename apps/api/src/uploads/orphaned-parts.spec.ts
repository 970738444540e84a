import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { type ObjectStore, createObjectStore, uploadPartKey } from '#storage';
import { listFiles } from '#test-support';
import { removeOrphanedParts } from './orphaned-parts.js';

describe('removeOrphanedParts', () => {
  let dir = '';
  let store: ObjectStore;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'specimen-orphaned-'));
    store = await createObjectStore(pathToFileURL(dir).href);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('removes the parts of uploads without a row and keeps those of uploads with one', async () => {
    const live = randomUUID();
    const orphans = [randomUUID(), randomUUID()];
    for (const id of [live, ...orphans]) {
      await store.put(uploadPartKey(id, 0, 'aa'), Readable.from([Buffer.from('first')]));
      await store.put(uploadPartKey(id, 5, 'bb'), Readable.from([Buffer.from('second')]));
    }
    // Not an upload's folder: left alone.
    await store.put('uploads/not-an-upload', Readable.from([Buffer.from('other')]));
    const upper = randomUUID().toUpperCase();
    await store.put(`uploads/${upper}/0000000000000000-cc`, Readable.from([Buffer.from('other')]));
    // The empty folder an upload removed before folders went with their parts left behind.
    const emptied = randomUUID();
    await mkdir(join(dir, 'uploads', emptied));
    await store.put(`incoming/${randomUUID()}`, Readable.from([Buffer.from('other')]));
    const asked: string[][] = [];
    const removed: string[] = [];
    const count = await removeOrphanedParts(
      store,
      (ids) => {
        asked.push([...ids].sort());
        return Promise.resolve(new Set(ids.filter((id) => id === live)));
      },
      (id) => removed.push(id),
    );
    assert.equal(count, 3);
    assert.deepEqual(removed.sort(), [...orphans, emptied].sort());
    assert.deepEqual(asked, [[live, ...orphans, emptied].sort()], 'one query for every upload id found');
    const left = (await listFiles(dir)).sort();
    assert.deepEqual(
      left.filter((f) => f.startsWith('uploads/')),
      [
        `uploads/${upper}/0000000000000000-cc`,
        uploadPartKey(live, 0, 'aa'),
        uploadPartKey(live, 5, 'bb'),
        'uploads/not-an-upload',
      ].sort(),
    );
    // The folders go with their parts.
    assert.deepEqual((await readdir(join(dir, 'uploads'))).sort(), [live, 'not-an-upload', upper].sort());
    assert.equal(left.filter((f) => f.startsWith('incoming/')).length, 1);
  });

  it('asks nothing when there are no parts', async () => {
    const empty = await createObjectStore(pathToFileURL(join(dir, 'empty')).href);
    let asked = 0;
    const count = await removeOrphanedParts(empty, () => {
      asked++;
      return Promise.resolve(new Set<string>());
    });
    assert.equal(count, 0);
    assert.equal(asked, 0);
  });
});
