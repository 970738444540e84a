import { SpecimenError } from '#contracts';
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
