import { constants } from 'node:fs';
import { link, mkdir, open, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const WRITE_HIGH_WATER_MARK = 1024 * 1024;

/**
 * Writes `body` into the local file `file` from byte `at` on (created if absent, cut to `at` first) and
 * fsyncs it before resolving: a resumable upload's chunks, one after another, in one file of its own on
 * the fs driver (see UploadAssemblies). Resolves with the bytes written; on a body error or an abort it
 * rejects, and the bytes past `at` are simply not referenced by the upload.
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
  // `flush: true` fsyncs before the close, which the pipeline waits for: the bytes are durable once
  // it resolves, as a part written through the store's put() is.
  const out = handle.createWriteStream({ start: at, flush: true, highWaterMark: WRITE_HIGH_WATER_MARK });
  await pipeline(body, out, { signal });
  return out.bytesWritten;
}

/** A second name for a local file (both are then the same bytes; neither may be written again). */
export async function linkFile(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true });
  await link(from, to);
}

/** Cuts the local file `file` back to `at` bytes (a refused chunk's bytes past the last accepted one). */
export async function cutAt(file: string, at: number): Promise<void> {
  await truncate(file, at);
}
