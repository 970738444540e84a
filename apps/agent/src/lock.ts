import { randomUUID } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { link, open, readFile, rename, rm, stat } from 'node:fs/promises';

/** A lock file older than this is left by a run that died holding it: taken over. */
const STALE_LOCK_MS = 30_000;

/** Lock files this process holds, removed when it exits, Ctrl-C (process.exit) included. */
const heldLocks = new Set<string>();
process.on('exit', () => {
  for (const path of heldLocks) {
    try {
      unlinkSync(path);
    } catch {
      // Gone already.
    }
  }
});

/**
 * Creates `path` exclusively (waiting while another process holds it); the release removes it. A lock whose
 * holder is gone (its pid, written inside, no longer runs) or that is older than STALE_LOCK_MS is taken
 * over by renaming it aside first: of two waiters that saw it stale only one rename succeeds, and one that
 * finds it moved a lock other than the stale one puts it back.
 */
export async function lock(path: string): Promise<() => Promise<void>> {
  for (let wait = 5; ; wait = Math.min(wait * 2, 100)) {
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      heldLocks.add(path);
      return async () => {
        heldLocks.delete(path);
        await rm(path, { force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const held = await stat(path).catch(() => null);
    if (held !== null && (Date.now() - held.mtimeMs > STALE_LOCK_MS || !(await holderRuns(path)))) {
      const aside = `${path}.${process.pid}.${randomUUID()}`;
      const moved = await rename(path, aside).then(
        () => true,
        () => false,
      );
      if (moved) {
        const took = await stat(aside).catch(() => null);
        // Another waiter took it over first and this rename moved its fresh lock: back it goes.
        if (took !== null && took.ino !== held.ino) await link(aside, path).catch(() => undefined);
        await rm(aside, { force: true });
      }
      continue;
    }
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

/** Whether the process whose pid the lock file holds still runs (true when it cannot be told). */
async function holderRuns(path: string): Promise<boolean> {
  const pid = Number(await readFile(path, 'utf8').catch(() => ''));
  if (!Number.isSafeInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
