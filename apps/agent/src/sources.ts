import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Dirent, Stats } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChunkSource } from '#client';

export interface FileDigests {
  sha256: string;
  sha1: string;
  md5: string;
  size: number;
}

/** A path that was not sent, and why: `failed` when it could not be read, not when it was passed over. */
export interface PassedOver {
  path: string;
  reason: string;
  failed: boolean;
}

/**
 * Every regular file under the given paths (folders recursively), each once, in a stable order, and what
 * was passed over. A path given on the command line is followed when it is a symbolic link; inside a
 * folder links are not (a link to a parent folder would loop forever, one to elsewhere would send what
 * nobody pointed at), and FIFOs, sockets and devices are never read (a FIFO would block the run). A path
 * that cannot be read (gone, a dangling link, no permission) is reported as failed and the walk goes on:
 * one bad entry in a folder does not stop the rest from being sent.
 */
export async function expandPaths(paths: string[]): Promise<{ files: string[]; passedOver: PassedOver[] }> {
  const found = new Set<string>();
  const passedOver: PassedOver[] = [];
  const failed = (path: string, e: unknown) =>
    passedOver.push({ path, reason: e instanceof Error ? e.message : String(e), failed: true });
  const visit = async (path: string, info: Stats | Dirent): Promise<void> => {
    if (info.isDirectory()) {
      let entries: Dirent[];
      try {
        entries = await readdir(path, { withFileTypes: true });
      } catch (e) {
        failed(path, e);
        return;
      }
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const entry of entries) await visit(join(path, entry.name), entry);
    } else if (info.isFile()) {
      found.add(path);
    } else {
      passedOver.push({ path, reason: passedOverReason(info), failed: false });
    }
  };
  for (const path of paths) {
    let info: Stats;
    try {
      info = await stat(path);
    } catch (e) {
      failed(path, e);
      continue;
    }
    await visit(path, info);
  }
  return { files: [...found], passedOver };
}

function passedOverReason(info: Stats | Dirent): string {
  if (info.isSymbolicLink()) return 'a symbolic link inside a folder: not followed';
  if (info.isFIFO()) return 'not a regular file: a FIFO';
  if (info.isSocket()) return 'not a regular file: a socket';
  if (info.isBlockDevice() || info.isCharacterDevice()) return 'not a regular file: a device';
  return 'not a regular file';
}

/** md5, sha1 and sha256 of a file in one streaming pass. */
export async function digestFile(path: string): Promise<FileDigests> {
  const hashes = { sha256: createHash('sha256'), sha1: createHash('sha1'), md5: createHash('md5') };
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
    const bytes = chunk as Buffer;
    size += bytes.length;
    hashes.sha256.update(bytes);
    hashes.sha1.update(bytes);
    hashes.md5.update(bytes);
  }
  return {
    sha256: hashes.sha256.digest('hex'),
    sha1: hashes.sha1.digest('hex'),
    md5: hashes.md5.digest('hex'),
    size,
  };
}

export function digestBuffer(bytes: Buffer): FileDigests {
  const hex = (algorithm: string) => createHash(algorithm).update(bytes).digest('hex');
  return { sha256: hex('sha256'), sha1: hex('sha1'), md5: hex('md5'), size: bytes.length };
}

/** Chunks read from a file at their offsets (what a resumed upload needs). */
export function fileSource(path: string, size: number): ChunkSource {
  return {
    size,
    async read(offset, length) {
      const handle = await open(path, 'r');
      try {
        const buffer = Buffer.alloc(length);
        const { bytesRead } = await handle.read(buffer, 0, length, offset);
        if (bytesRead !== length) throw new Error(`${path} changed while it was being sent`);
        return buffer;
      } finally {
        await handle.close();
      }
    },
  };
}

export function bufferSource(bytes: Buffer): ChunkSource {
  return {
    size: bytes.length,
    read: (offset, length) => Promise.resolve(bytes.subarray(offset, offset + length)),
  };
}

/**
 * `count` sectors from `lba` of a disk image or device. The scheme is a first guess for analysts
 * (the scanner parses the sectors itself): a GPT header at LBA 1, a 0x55AA signature at LBA 0.
 */
export async function readSectors(
  path: string,
  lba: number,
  count: number,
  sectorSize: 512 | 4096,
): Promise<{ bytes: Buffer; scheme: 'mbr' | 'gpt' | 'vbr' | 'unknown' }> {
  const handle = await open(path, 'r');
  try {
    const bytes = Buffer.alloc(count * sectorSize);
    const { bytesRead } = await handle.read(bytes, 0, bytes.length, lba * sectorSize);
    if (bytesRead !== bytes.length) {
      throw new Error(`${path} has fewer than ${count} sectors of ${sectorSize} bytes from LBA ${lba}`);
    }
    const signed = bytes[510] === 0x55 && bytes[511] === 0xaa;
    const gptAt = lba === 0 && count > 1 ? sectorSize : lba === 1 ? 0 : -1;
    const scheme =
      gptAt >= 0 && bytes.toString('latin1', gptAt, gptAt + 8) === 'EFI PART'
        ? 'gpt'
        : signed && lba === 0
          ? 'mbr'
          : signed
            ? 'vbr'
            : 'unknown';
    return { bytes, scheme };
  } finally {
    await handle.close();
  }
}
