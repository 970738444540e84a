import { randomUUID } from 'node:crypto';
import { type Dirent, constants } from 'node:fs';
import {
  type FileHandle,
  access,
  link,
  mkdir,
  open,
  readdir,
  rename,
  rmdir,
  stat,
  unlink,
} from 'node:fs/promises';
import path from 'node:path';
import { type Readable } from 'node:stream';
import { SpecimenError } from '#contracts';
import { checkRange, checkSize, readChunks } from './body.js';
import { assertValidKey, assertValidPrefix } from './keys.js';
import { type ByteRange, type ObjectInfo, type ObjectStore, type PutOptions } from './object-store.js';

const TMP_DIR = '.tmp';
const ABSENT = new Set(['ENOENT', 'ENOTDIR']);
// Errors that mean the disk, not the request, is the problem.
const UNAVAILABLE = new Set([
  'EACCES',
  'EPERM',
  'EROFS',
  'ENOSPC',
  'EDQUOT',
  'EIO',
  'EMFILE',
  'ENFILE',
  'ESTALE',
]);

function errnoCode(err: unknown): string | undefined {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

function isAbsent(err: unknown): boolean {
  return ABSENT.has(errnoCode(err) ?? '');
}

function storageError(err: unknown): unknown {
  const code = errnoCode(err);
  return code !== undefined && UNAVAILABLE.has(code)
    ? new SpecimenError(
        'STORAGE_UNAVAILABLE',
        'Object storage is unavailable',
        { driver: 'fs', code },
        { cause: err },
      )
    : err;
}

async function io<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (err) {
    throw storageError(err);
  }
}

function notFound(key: string, cause?: unknown): SpecimenError {
  return new SpecimenError('NOT_FOUND', 'Object not found', { key }, { cause });
}

async function writeAll(file: FileHandle, data: Buffer): Promise<void> {
  for (let offset = 0; offset < data.length;) {
    const { bytesWritten } = await file.write(data, offset, data.length - offset);
    offset += bytesWritten;
  }
}

/**
 * Keeps objects as files under a root directory. Writes go to `<root>/.tmp/<uuid>`, are fsynced and
 * then renamed into place, so a crash never leaves a partial file under a key.
 */
export class FsObjectStore implements ObjectStore {
  readonly driver = 'fs';
  private readonly tmpDir: string;

  private constructor(private readonly root: string) {
    this.tmpDir = path.join(root, TMP_DIR);
  }

  /** Opens (creating if needed) the store rooted at the absolute directory `root`. */
  static async open(root: string): Promise<FsObjectStore> {
    if (!path.isAbsolute(root)) throw new Error(`Storage root must be an absolute path, got "${root}"`);
    const store = new FsObjectStore(path.resolve(root));
    await io(() => mkdir(store.tmpDir, { recursive: true }));
    return store;
  }

  private pathOf(key: string): string {
    return path.join(this.root, ...assertValidKey(key).split('/'));
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<{ size: number }> {
    const target = this.pathOf(key);
    const tmp = path.join(this.tmpDir, randomUUID());
    let file: FileHandle | undefined;
    try {
      file = await io(() => open(tmp, 'wx'));
      let size = 0;
      for await (const chunk of readChunks(body, options.signal)) {
        size += chunk.length;
        const handle = file;
        await io(() => writeAll(handle, chunk));
      }
      checkSize(options.size, size);
      const handle = file;
      await io(async () => {
        await handle.sync();
        await handle.close();
      });
      file = undefined;
      options.signal?.throwIfAborted();
      await this.withParentDir(target, () => rename(tmp, target));
      return { size };
    } catch (err) {
      await file?.close().catch(() => {});
      await unlink(tmp).catch(() => {});
      throw err;
    }
  }

  /**
   * Runs an operation that creates `target`, creating its parent directory first. A concurrent
   * delete may prune that directory in between, so ENOENT is retried a few times.
   */
  private async withParentDir<T>(target: string, operation: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      await io(() => mkdir(path.dirname(target), { recursive: true }));
      try {
        return await operation();
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT' || attempt >= 3) throw storageError(err);
      }
    }
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    const file = this.pathOf(key);
    if (range) checkRange(range);
    let handle: FileHandle;
    try {
      handle = await open(file, 'r');
    } catch (err) {
      throw isAbsent(err) ? notFound(key, err) : storageError(err);
    }
    try {
      if (!(await handle.stat()).isFile()) throw notFound(key);
    } catch (err) {
      await handle.close();
      throw storageError(err);
    }
    return handle.createReadStream({ start: range?.start, end: range?.end, autoClose: true });
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    try {
      const info = await stat(this.pathOf(key));
      return info.isFile() ? { key, size: info.size, lastModified: info.mtime } : null;
    } catch (err) {
      if (isAbsent(err)) return null;
      throw storageError(err);
    }
  }

  async delete(key: string): Promise<void> {
    const file = this.pathOf(key);
    try {
      await unlink(file);
    } catch (err) {
      // EISDIR: the key names a directory of other keys, so there is no object to delete.
      if (isAbsent(err) || errnoCode(err) === 'EISDIR') return;
      throw storageError(err);
    }
    await this.pruneEmptyDirs(path.dirname(file));
  }

  /** Removes now-empty directories up to (not including) the root; stops at the first non-empty one. */
  private async pruneEmptyDirs(dir: string): Promise<void> {
    for (let current = dir; current.startsWith(this.root + path.sep); current = path.dirname(current)) {
      try {
        await rmdir(current);
      } catch {
        return;
      }
    }
  }

  async promote(from: string, to: string): Promise<'moved' | 'existed'> {
    const source = this.pathOf(from);
    const target = this.pathOf(to);
    if (from === to)
      throw new SpecimenError('VALIDATION_FAILED', 'promote() needs two different keys', { key: to });
    if ((await this.stat(from)) === null) throw notFound(from);
    let outcome: 'moved' | 'existed';
    try {
      // link() never replaces an existing file, so exactly one of two racing promotes wins.
      await this.withParentDir(target, () => link(source, target));
      outcome = 'moved';
    } catch (err) {
      if (errnoCode(err) === 'EEXIST') {
        outcome = 'existed';
      } else if (isAbsent(err) && (await this.stat(from)) === null) {
        throw notFound(from, err);
      } else {
        throw err;
      }
    }
    await this.delete(from);
    return outcome;
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    assertValidPrefix(prefix);
    const slash = prefix.lastIndexOf('/');
    yield* this.walk(slash < 0 ? '' : prefix.slice(0, slash + 1), prefix);
  }

  /** Depth-first walk of the directory for `dirKey` (empty or ending in '/'), descending only where `prefix` can match. */
  private async *walk(dirKey: string, prefix: string): AsyncGenerator<ObjectInfo> {
    let entries: Dirent[];
    try {
      entries = await readdir(path.join(this.root, dirKey), { withFileTypes: true });
    } catch (err) {
      if (isAbsent(err)) return;
      throw storageError(err);
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const key = dirKey + entry.name;
      if (entry.isDirectory()) {
        const childDir = `${key}/`;
        if (childDir.startsWith(prefix) || prefix.startsWith(childDir)) yield* this.walk(childDir, prefix);
      } else if (entry.isFile() && key.startsWith(prefix)) {
        const info = await this.stat(key).catch((err: unknown) => {
          if (err instanceof SpecimenError && err.code === 'VALIDATION_FAILED') return null;
          throw err;
        });
        if (info) yield info;
      }
    }
  }

  localPath(key: string): string {
    return this.pathOf(key);
  }

  async ping(): Promise<void> {
    try {
      await access(this.tmpDir, constants.W_OK);
    } catch (err) {
      throw new SpecimenError(
        'STORAGE_UNAVAILABLE',
        'Object storage is unavailable',
        { driver: 'fs', code: errnoCode(err) },
        { cause: err },
      );
    }
  }
}
