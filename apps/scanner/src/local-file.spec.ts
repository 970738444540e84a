import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { SpecimenError } from '#contracts';
import { type ObjectStore, createObjectStore } from '#storage';
import { type TestS3Server, startS3Server } from '#test-support';
import { MissingObjectError, withLocalFile } from './local-file.js';

describe('withLocalFile (fs driver: files scanned in place)', () => {
  let dir: string;
  const store = (): ObjectStore => ({ localPath: (key: string) => join(dir, key) }) as unknown as ObjectStore;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'specimen-local-file-'));
    await writeFile(join(dir, 'present'), 'bytes');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('hands the stored file to the callback', async () => {
    assert.equal(
      await withLocalFile(store(), 'present', (path) => Promise.resolve(path)),
      join(dir, 'present'),
    );
  });

  it('turns a failure on a missing object into MissingObjectError', async () => {
    await assert.rejects(
      withLocalFile(store(), 'gone', () => Promise.reject(new Error('ENOENT: no such file'))),
      (e: unknown) => e instanceof MissingObjectError && e.key === 'gone',
    );
  });

  it('keeps the callback’s own error when the object is there', async () => {
    await assert.rejects(
      withLocalFile(store(), 'present', () => Promise.reject(new Error('scanner bug'))),
      /scanner bug/,
    );
  });

  it('keeps the callback’s error when the file cannot be looked at for another reason than its absence', async () => {
    // ENAMETOOLONG from stat: nothing says the object is gone (as with EACCES, EMFILE or EIO).
    await assert.rejects(
      withLocalFile(store(), 'x'.repeat(300), () => Promise.reject(new Error('EIO: i/o error'))),
      (e: unknown) => !(e instanceof MissingObjectError) && /EIO/.test(String(e)),
    );
  });
});

describe('withLocalFile (S3 driver: objects streamed to a temporary file)', () => {
  let s3: TestS3Server;
  let store: ObjectStore;

  before(async () => {
    s3 = await startS3Server();
    store = await createObjectStore(s3.url);
    await store.put('present', Readable.from([Buffer.from('bytes')]));
  });
  after(() => s3?.close());

  it('hands a temporary copy of the object to the callback and removes it afterwards', async () => {
    let seen = '';
    assert.equal(
      await withLocalFile(store, 'present', async (path) => {
        seen = path;
        return readFile(path, 'utf8');
      }),
      'bytes',
    );
    await assert.rejects(stat(seen), { code: 'ENOENT' });
  });

  it('throws MissingObjectError, keeping the store’s NOT_FOUND as its cause, when the object is absent', async () => {
    let called = false;
    await assert.rejects(
      withLocalFile(store, 'gone', () => {
        called = true;
        return Promise.resolve();
      }),
      (e: unknown) =>
        e instanceof MissingObjectError &&
        e.key === 'gone' &&
        e.cause instanceof SpecimenError &&
        e.cause.code === 'NOT_FOUND',
    );
    assert.equal(called, false);
  });

  it('keeps the callback’s own error, even a NOT_FOUND, when the object is there', async () => {
    await assert.rejects(
      withLocalFile(store, 'present', () =>
        Promise.reject(new SpecimenError('NOT_FOUND', 'some row the callback looked for')),
      ),
      (e: unknown) => e instanceof SpecimenError && e.code === 'NOT_FOUND',
    );
  });
});
