import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ObjectStore } from '#storage';
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
});
