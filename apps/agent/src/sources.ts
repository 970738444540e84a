import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import type { Dirent, PathLike, Stats } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { isUtf8 } from 'node:buffer';
import { dirname, join, resolve, sep } from 'node:path';
import type { ChunkSource } from '#client';

export interface FileDigests {
  sha256: string;
  sha1: string;
  md5: string;
  size: number;
}

/** A file to send: the path it is read by (bytes when its name is not UTF-8) and the name it is shown by. */
export interface FoundFile {
  path: string | Buffer;
  name: string;
}

/** A path that was not sent, and why: `failed` when it could not be read, not when it was passed over. */
export interface PassedOver {
  path: string;
  reason: string;
  failed: boolean;
}

/**
 * The command line's arguments as the bytes they were given (Linux: /proc/self/cmdline), or null. Node
 * decodes process.argv as UTF-8, turning the bytes of a name that is not UTF-8 into U+FFFD: such a file,
 * named on the command line, was reported as ENOENT though it was there.
 */
export function rawArguments(count: number): Buffer[] | null {
  let cmdline: Buffer;
  try {
    cmdline = readFileSync('/proc/self/cmdline');
  } catch {
    return null;
  }
  const all: Buffer[] = [];
  for (let start = 0; start < cmdline.length;) {
    const end = cmdline.indexOf(0, start);
    all.push(cmdline.subarray(start, end === -1 ? cmdline.length : end));
    start = end === -1 ? cmdline.length : end + 1;
  }
  return all.length >= count ? all.slice(all.length - count) : null;
}

/**
 * The path an argument names: its bytes when it is not UTF-8 (`raw`, from {@link rawArguments}, decoding
 * to the same text), else the text.
 */
export function argumentPath(text: string, raw: Buffer | undefined): string | Buffer {
  return raw !== undefined && !isUtf8(raw) && raw.toString('utf8') === text ? raw : text;
}

/**
 * Every regular file under the given paths (folders recursively), each once, in a stable order, and what
 * was passed over. A path given on the command line is followed when it is a symbolic link; inside a
 * folder links are not (a link to a parent folder would loop forever, one to elsewhere would send what
 * nobody pointed at), and FIFOs, sockets and devices are never read (a FIFO would block the run). A path
 * that cannot be read (gone, a dangling link, no permission) is reported as failed and the walk goes on:
 * one bad entry in a folder does not stop the rest from being sent.
 */
export async function expandPaths(
  paths: Array<string | Buffer>,
  options: { privateFolder?: string } = {},
): Promise<{ files: FoundFile[]; passedOver: PassedOver[] }> {
  const found = new Map<string, FoundFile>();
  const passedOver: PassedOver[] = [];
  const failed = (name: string, e: unknown) =>
    passedOver.push({ path: name, reason: e instanceof Error ? e.message : String(e), failed: true });
  // The agent's own folder (its API key, its state) is never sent, whatever path leads to it.
  const own =
    options.privateFolder === undefined ? null : await stat(options.privateFolder).catch(() => null);
  const isOwn = (info: Stats) => own !== null && info.dev === own.dev && info.ino === own.ino;
  const privateReason = "the agent's own folder (its API key): never sent";
  const visit = async (file: FoundFile, info: Stats | Dirent<Buffer>): Promise<void> => {
    if (info.isDirectory()) {
      if (own !== null) {
        let folder: Stats;
        try {
          folder = 'dev' in info ? info : await stat(file.path);
        } catch (e) {
          failed(file.name, e);
          return;
        }
        if (isOwn(folder)) {
          passedOver.push({ path: file.name, reason: privateReason, failed: false });
          return;
        }
      }
      let entries: Array<Dirent<Buffer>>;
      try {
        entries = await readdir(file.path, { withFileTypes: true, encoding: 'buffer' });
      } catch (e) {
        failed(file.name, e);
        return;
      }
      entries.sort((a, b) => Buffer.compare(a.name, b.name));
      for (const entry of entries) await visit(child(file, entry.name), entry);
    } else if (info.isFile()) {
      found.set(typeof file.path === 'string' ? `s${file.path}` : `b${file.path.toString('hex')}`, file);
    } else {
      passedOver.push({ path: file.name, reason: passedOverReason(info), failed: false });
    }
  };
  for (const path of paths) {
    const name = shownPath(path);
    let info: Stats;
    try {
      info = await stat(path);
    } catch (e) {
      failed(name, e);
      continue;
    }
    // A file named on the command line inside the agent's folder (inside a folder, the folder is skipped).
    if (own !== null && !info.isDirectory() && isOwn(await stat(parentOf(path)).catch(() => info))) {
      passedOver.push({ path: name, reason: privateReason, failed: false });
      continue;
    }
    await visit({ path, name }, info);
  }
  return { files: [...found.values()], passedOver };
}

/** The folder a path is in, for a path of bytes too. */
function parentOf(path: string | Buffer): string | Buffer {
  if (typeof path === 'string') return dirname(resolve(path));
  const slash = path.lastIndexOf(0x2f);
  return slash === -1 ? '.' : slash === 0 ? '/' : path.subarray(0, slash);
}

/**
 * The entry `name` of folder `parent`. File names are bytes: one that is not UTF-8 (a Latin-1 name on an
 * old disk, a malware drop's junk) keeps its bytes in the path the file is read by, and is shown with
 * U+FFFD where its bytes are not UTF-8; a string path would have named another file (ENOENT).
 */
function child(parent: FoundFile, name: Buffer): FoundFile {
  const shown = join(parent.name, name.toString('utf8'));
  if (typeof parent.path === 'string' && isUtf8(name))
    return { path: join(parent.path, name.toString('utf8')), name: shown };
  const base = typeof parent.path === 'string' ? Buffer.from(parent.path) : parent.path;
  const slash = base.at(-1) === 0x2f ? [] : [Buffer.from(sep)];
  return { path: Buffer.concat([base, ...slash, name]), name: shown };
}

function passedOverReason(
  info: Pick<Stats, 'isSymbolicLink' | 'isFIFO' | 'isSocket' | 'isBlockDevice' | 'isCharacterDevice'>,
): string {
  if (info.isSymbolicLink()) return 'a symbolic link inside a folder: not followed';
  if (info.isFIFO()) return 'not a regular file: a FIFO';
  if (info.isSocket()) return 'not a regular file: a socket';
  if (info.isBlockDevice() || info.isCharacterDevice()) return 'not a regular file: a device';
  return 'not a regular file';
}

/**
 * Checks that the one path of `--kind memory-region` (a regular file) or `--kind boot-record` (a file or a
 * disk device) can be read as such, before it is: a FIFO (a dump piped in with `<(…)`) blocked the run for
 * ever, since a region is read twice (hashed, then sent) and sectors are read at an offset; a folder failed
 * with a bare "EISDIR: illegal operation on a directory, read".
 */
export async function checkDumpPath(path: string, kind: 'memory-region' | 'boot-record'): Promise<void> {
  const info = await stat(path);
  const device = info.isBlockDevice() || info.isCharacterDevice();
  if (info.isFile() || (kind === 'boot-record' && device)) {
    if (info.isFile() && info.size === 0)
      throw new Error(`${path} is empty: the service takes no empty samples`);
    return;
  }
  const what = info.isDirectory() ? 'a folder' : passedOverReason(info).replace(/^not a regular file: /, '');
  throw new Error(
    `${path} is ${what}, not ${kind === 'memory-region' ? 'a memory dump file' : 'a disk or disk image'}` +
      (info.isFIFO() ? ': save what the pipe carries to a file and submit that' : ''),
  );
}

/** A path as words: bytes that are not UTF-8 show as U+FFFD. */
export const shownPath = (path: PathLike): string =>
  typeof path === 'string' ? path : Buffer.isBuffer(path) ? path.toString('utf8') : path.href;

/** md5, sha1 and sha256 of a file in one streaming pass. */
export async function digestFile(path: PathLike): Promise<FileDigests> {
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

/** Whether the file's bytes are no longer those of `digests` (gone or unreadable counts as changed). */
export const fileChanged = (path: PathLike, digests: Pick<FileDigests, 'sha256'>) => () =>
  digestFile(path).then(
    (now) => now.sha256 !== digests.sha256,
    () => true,
  );

/** Chunks read from a file at their offsets (what a resumed upload needs). */
export function fileSource(path: PathLike, size: number): ChunkSource {
  return {
    size,
    async read(offset, length) {
      const handle = await open(path, 'r');
      try {
        const buffer = Buffer.alloc(length);
        const { bytesRead } = await handle.read(buffer, 0, length, offset);
        if (bytesRead !== length) throw new Error(`${shownPath(path)} changed while it was being sent`);
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
