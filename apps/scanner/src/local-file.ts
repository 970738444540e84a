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

/** The fs driver's file is scanned in place (mmap); other drivers' objects are streamed to a temp file. */
export async function withLocalFile<T>(
  store: ObjectStore,
  key: string,
  fn: (path: string) => Promise<T>,
): Promise<T> {
  const local = store.localPath(key);
  if (local !== null) {
    const found = await stat(local).catch(() => null);
    if (found === null) throw new MissingObjectError(key);
    return fn(local);
  }
  const temp = join(tmpdir(), `specimen-scan-${randomUUID()}`);
  try {
    await pipeline(await store.get(key), createWriteStream(temp, { mode: 0o600 }));
    return await fn(temp);
  } finally {
    await rm(temp, { force: true });
  }
}
