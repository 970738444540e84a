import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { UnrecoverableError } from '#queue';
import type { ObjectStore } from '#storage';

/** The object is gone from storage: scanning it again cannot help until someone restores it. */
export class MissingObjectError extends UnrecoverableError {
  constructor(readonly key: string) {
    super(`object ${key} is missing from storage`);
  }
}

/**
 * The fs driver's file is scanned in place (mmap); other drivers' objects are streamed to a temp file.
 * Throws {@link MissingObjectError} when the object is not in storage.
 */
export async function withLocalFile<T>(
  store: ObjectStore,
  key: string,
  fn: (path: string) => Promise<T>,
): Promise<T> {
  const local = store.localPath(key);
  if (local !== null) {
    try {
      return await fn(local);
    } catch (e) {
      // Looked at only after a failure (one stat fewer per scan): when the file is gone, that is the cause.
      if ((await stat(local).catch(() => null)) === null) throw new MissingObjectError(key);
      throw e;
    }
  }
  const temp = join(tmpdir(), `specimen-scan-${randomUUID()}`);
  try {
    await pipeline(await store.get(key), createWriteStream(temp, { mode: 0o600 }));
    return await fn(temp);
  } finally {
    await rm(temp, { force: true });
  }
}
