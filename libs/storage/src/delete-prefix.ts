import { rmdir } from 'node:fs/promises';
import { SpecimenError } from '#contracts';
import { uploadPrefix } from './keys.js';
import type { ObjectStore } from './object-store.js';

/**
 * Deletes every object whose key starts with `prefix` (as {@link ObjectStore.list} matches keys) and returns
 * their keys. The whole listing is read before the first delete, so no driver walks a listing that changes
 * under it. An object stored under the prefix meanwhile may stay. The empty prefix (everything) is refused
 * with SpecimenError VALIDATION_FAILED.
 */
export async function deletePrefix(store: ObjectStore, prefix: string): Promise<string[]> {
  if (prefix.length === 0) throw new SpecimenError('VALIDATION_FAILED', 'deletePrefix() needs a prefix');
  const keys: string[] = [];
  for await (const object of store.list(prefix)) keys.push(object.key);
  for (const key of keys) await store.delete(key);
  return keys;
}

/**
 * Deletes one resumable upload's parts ({@link deletePrefix} of `uploads/<id>/`) and, on a driver with
 * local files, the folder they were in: deleting objects leaves folders behind on fs, and every past
 * upload's empty folder would be read again by each listing of `uploads/`. A folder that is not empty
 * (a part stored meanwhile) stays, for the next sweep.
 */
export async function deleteUpload(store: ObjectStore, id: string): Promise<void> {
  const prefix = uploadPrefix(id);
  await deletePrefix(store, prefix);
  const folder = store.localPath(prefix.slice(0, -1));
  if (folder === null) return;
  try {
    await rmdir(folder);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTEMPTY' && code !== 'ENOTDIR') throw e;
  }
}
