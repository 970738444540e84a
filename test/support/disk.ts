import { execFileSync } from 'node:child_process';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The first `bytes` of a sparse 64 MiB disk image partitioned by `sfdisk` (Debian package fdisk) with
 * `script`, and sfdisk's own dump of the table to compare with.
 */
export async function sfdiskImage(script: string, bytes: number): Promise<{ head: Buffer; dump: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'specimen-disk-'));
  const image = join(dir, 'disk.img');
  try {
    const handle = await open(image, 'w');
    await handle.truncate(64 * 1024 * 1024);
    await handle.close();
    try {
      execFileSync('sfdisk', ['--no-reread', '--no-tell-kernel', '-q', image], {
        input: script,
        stdio: 'pipe',
      });
    } catch (e) {
      throw new Error('sfdisk failed (is the Debian package fdisk installed?)', { cause: e });
    }
    const dump = execFileSync('sfdisk', ['--dump', image], { encoding: 'utf8' });
    const reader = await open(image, 'r');
    try {
      const head = Buffer.alloc(bytes);
      const { bytesRead } = await reader.read(head, 0, bytes, 0);
      return { head: head.subarray(0, bytesRead), dump };
    } finally {
      await reader.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
