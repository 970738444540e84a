import { readdir } from 'node:fs/promises';
import { type ObjectStore, UPLOADS_PREFIX, deleteUpload, uploadOfKey } from '#storage';

/** How many upload ids are checked against the database in one query. */
const IDS_PER_QUERY = 1000;

/**
 * Removes every upload folder under `uploads/` whose upload has no row (`existing` tells which ids have
 * one): parts written by a PATCH that raced the row's deletion (a consent purge removes the parts, then
 * the row), or left when a sweep or a purge stopped between the row and the parts, and on fs the empty
 * folders of uploads removed before folders were removed with them. A row is created before any part of
 * it can be written, and a finished upload's parts go before its row is marked complete, so a part
 * without a row is never read again, and nothing else would remove it. `removed` is told each id whose
 * folder went. Returns how many went.
 */
export async function removeOrphanedParts(
  store: ObjectStore,
  existing: (ids: string[]) => Promise<Set<string>>,
  removed?: (id: string) => void,
): Promise<number> {
  const all = [...(await uploadIds(store))];
  let count = 0;
  for (let i = 0; i < all.length; i += IDS_PER_QUERY) {
    const batch = all.slice(i, i + IDS_PER_QUERY);
    const live = await existing(batch);
    for (const id of batch) {
      if (live.has(id)) continue;
      await deleteUpload(store, id);
      removed?.(id);
      count++;
    }
  }
  return count;
}

/**
 * The ids of the upload folders in storage: on fs the folders themselves, one directory read (empty
 * ones included), elsewhere the ids in the keys of a listing of `uploads/`.
 */
async function uploadIds(store: ObjectStore): Promise<Set<string>> {
  const ids = new Set<string>();
  const root = store.localPath(UPLOADS_PREFIX.slice(0, -1));
  if (root !== null) {
    const entries = await readdir(root, { withFileTypes: true }).catch((e: unknown) => {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    });
    for (const entry of entries) {
      const id = entry.isDirectory() ? uploadOfKey(`${UPLOADS_PREFIX}${entry.name}/`) : null;
      if (id !== null) ids.add(id);
    }
    return ids;
  }
  for await (const object of store.list(UPLOADS_PREFIX)) {
    const id = uploadOfKey(object.key);
    if (id !== null) ids.add(id);
  }
  return ids;
}
