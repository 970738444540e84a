import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SpecimenError } from '#contracts';
import { UnrecoverableError } from '#queue';
import type { ObjectStore } from '#storage';

/** The object is gone from storage: scanning it again cannot help until someone restores it. */
export class MissingObjectError extends UnrecoverableError {
  constructor(
    readonly key: string,
    options?: { cause?: unknown },
  ) {
    super(`object ${key} is missing from storage`);
    // BullMQ's UnrecoverableError takes a message only.
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}

/**
 * The fs driver's file is scanned in place (mmap); other drivers' objects are streamed to a temp file.
 * Throws {@link MissingObjectError} when the object is not in storage, whatever the driver; any other
 * error, the callback's own included, passes through unchanged.
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
      // Only gone: a stat that fails otherwise (EACCES, EMFILE, EIO) says nothing about the object.
      const gone = await stat(local).then(
        () => false,
        (err: unknown) => ['ENOENT', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? ''),
      );
      if (gone) throw new MissingObjectError(key);
      throw e;
    }
  }
  const temp = join(tmpdir(), `specimen-scan-${randomUUID()}`);
  try {
    let body: Readable;
    try {
      body = await store.get(key);
    } catch (e) {
      // The store's NOT_FOUND only: a callback's NOT_FOUND is about something else.
      if (e instanceof SpecimenError && e.code === 'NOT_FOUND')
        throw new MissingObjectError(key, { cause: e });
      throw e;
    }
    await pipeline(body, createWriteStream(temp, { mode: 0o600 }));
    return await fn(temp);
  } finally {
    await rm(temp, { force: true });
  }
}
