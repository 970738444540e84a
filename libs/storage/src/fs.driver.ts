import { randomUUID } from 'node:crypto';
import { type Dirent, constants, createWriteStream } from 'node:fs';
import { type FileHandle, access, link, mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SpecimenError } from '#contracts';
import { checkRange, checkSize } from './body.js';
import { assertValidKey, assertValidPrefix } from './keys.js';
import { type ByteRange, type ObjectInfo, type ObjectStore, type PutOptions } from './object-store.js';

const TMP_DIR = '.tmp';
const WRITE_HIGH_WATER_MARK = 1024 * 1024;
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
    const { signal } = options;
    try {
      signal?.throwIfAborted();
      // A stream pipeline, not read-then-await-write: reading the next chunk overlaps the write of the
      // last one and writev batches what piles up. Measured on a 1 GiB body: 172 MB/s with awaited
      // writes, 2x that this way. `flush: true` fsyncs before close, so the rename publishes durable bytes.
      const out = createWriteStream(tmp, { flags: 'wx', flush: true, highWaterMark: WRITE_HIGH_WATER_MARK });
      await pipeline(body, out, signal === undefined ? {} : { signal });
      const size = out.bytesWritten;
      checkSize(options.size, size);
      signal?.throwIfAborted();
      await this.withParentDir(target, () => rename(tmp, target));
      return { size };
    } catch (err) {
      // Without an error argument: an 'error' event could crash a caller that has no listener for it.
      if (!body.destroyed) body.destroy();
      await unlink(tmp).catch(() => {});
      if (signal?.aborted === true) throw signal.reason;
      throw storageError(err);
    }
  }

  /**
   * Runs an operation that creates `target`; only when it fails with ENOENT (no parent directory) is the
   * directory made and the operation run once more. The parent usually exists (`incoming/`, and most
   * `samples/ab/cd` of a store of some size): making it first cost two more trips to the thread pool per
   * call (mkdir, then a stat to see that the existing path is a directory).
   */
  private async withParentDir<T>(target: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw storageError(err);
    }
    await io(() => mkdir(path.dirname(target), { recursive: true }));
    return io(operation);
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
    // Emptied directories are kept on purpose: pruning them raced with concurrent puts into the same
    // folder (200 parallel uploads failed with ENOENT), and they are few (samples/ab/cd: at most 65,536).
  }

  async promote(
    from: string,
    to: string,
    options: { keepSource?: boolean } = {},
  ): Promise<'moved' | 'existed'> {
    const source = this.pathOf(from);
    const target = this.pathOf(to);
    if (from === to)
      throw new SpecimenError('VALIDATION_FAILED', 'promote() needs two different keys', { key: to });
    let outcome: 'moved' | 'existed';
    try {
      // link() never replaces an existing file, so exactly one of two racing promotes wins. The source is
      // looked at (there, and a file) only when the link fails, not before every promote.
      await this.withParentDir(target, () => link(source, target));
      outcome = 'moved';
    } catch (err) {
      if ((await this.stat(from)) === null) throw notFound(from, err);
      if (errnoCode(err) !== 'EEXIST') throw err;
      outcome = 'existed';
    }
    if (options.keepSource !== true) await this.delete(from);
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

  /**
   * Writable where uploads land (the temporary folder) and where samples go: `samples/` once it exists
   * (made unwritable, uploads failed with 503 while readiness, which looked at the temporary folder only,
   * said ok).
   */
  async ping(): Promise<void> {
    try {
      await access(this.tmpDir, constants.W_OK);
      await access(path.join(this.root, 'samples'), constants.W_OK).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      });
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
