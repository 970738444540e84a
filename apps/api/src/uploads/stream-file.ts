import { constants } from 'node:fs';
import { type FileHandle, link, mkdir, open, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const WRITE_HIGH_WATER_MARK = 1024 * 1024;
/**
 * While a chunk is written, its bytes are handed to the disk every this many bytes (an fdatasync that
 * the write does not wait for), so the flush the PATCH does wait for at its end finds little left.
 */
const WRITE_BACK_BYTES = 2 * 1024 * 1024;

/**
 * Passes bytes on unchanged and, every WRITE_BACK_BYTES of them, starts an fdatasync of `handle` that
 * nothing waits for (at most one at a time; one that fails only leaves more to the last flush).
 */
class WriteBack extends Transform {
  private unflushed = 0;
  private pending: Promise<void> | null = null;

  constructor(private readonly handle: FileHandle) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.unflushed += chunk.length;
    if (this.unflushed >= WRITE_BACK_BYTES && this.pending === null) {
      this.unflushed = 0;
      const settled = () => {
        this.pending = null;
      };
      this.pending = this.handle.datasync().then(settled, settled);
    }
    callback(null, chunk);
  }

  /** Resolves once no early flush is in flight. */
  async settled(): Promise<void> {
    await this.pending;
  }
}

/**
 * Writes `body` into the local file `file` from byte `at` on (created if absent, cut to `at` first) and
 * flushes it to the disk (fdatasync: the data and the file's size, which is what reading it back needs)
 * before resolving: a resumable upload's chunks, one after another, in one file of its own on the fs
 * driver (see UploadAssemblies). The write-back starts while the bytes still arrive (see
 * WRITE_BACK_BYTES); the last flush starts after the last write. Resolves with the bytes written; on a
 * body error or an abort it rejects, and the bytes past `at` are simply not referenced by the upload.
 */
export async function writeAt(
  file: string,
  at: number,
  body: Readable,
  signal: AbortSignal,
): Promise<number> {
  await mkdir(dirname(file), { recursive: true });
  const handle = await open(file, constants.O_RDWR | constants.O_CREAT);
  try {
    await handle.truncate(at);
  } catch (e) {
    await handle.close();
    throw e;
  }
  // Not closed by the stream at its end: the last flush comes after the last write, before the close.
  const out = handle.createWriteStream({ start: at, autoClose: false, highWaterMark: WRITE_HIGH_WATER_MARK });
  const writeBack = new WriteBack(handle);
  try {
    await pipeline(body, writeBack, out, { signal });
    await writeBack.settled();
    await handle.datasync();
    return out.bytesWritten;
  } finally {
    await writeBack.settled();
    // The stream holds the handle until it is destroyed; it then closes it, after any write in flight.
    out.destroy();
    await handle.close();
  }
}

/** A second name for a local file (both are then the same bytes; neither may be written again). */
export async function linkFile(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true });
  await link(from, to);
}

/**
 * Cuts the local file `file` back to `at` bytes (a refused chunk's bytes past the last accepted one). A
 * file already gone (the upload was terminated or swept while the chunk arrived) has nothing to cut.
 */
export async function cutAt(file: string, at: number): Promise<void> {
  try {
    await truncate(file, at);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
