import { type ObjectStore, UPLOADS_PREFIX, deletePrefix, uploadOfKey, uploadPrefix } from '#storage';

/** How many upload ids are checked against the database in one query. */
const IDS_PER_QUERY = 1000;

/**
 * Removes every folder under `uploads/` whose upload has no row (`existing` tells which ids have one):
 * parts written by a PATCH that raced the row's deletion (a consent purge removes the parts, then the
 * row), or left when a sweep or a purge stopped between the row and the parts. A row is created before
 * any part of it can be written, and a finished upload's parts go before its row is marked complete, so a
 * part without a row is never read again, and nothing else would remove it. `removed` is told each id
 * whose parts went. Returns how many uploads' parts went.
 */
export async function removeOrphanedParts(
  store: ObjectStore,
  existing: (ids: string[]) => Promise<Set<string>>,
  removed?: (id: string) => void,
): Promise<number> {
  const ids = new Set<string>();
  for await (const object of store.list(UPLOADS_PREFIX)) {
    const id = uploadOfKey(object.key);
    if (id !== null) ids.add(id);
  }
  const all = [...ids];
  let count = 0;
  for (let i = 0; i < all.length; i += IDS_PER_QUERY) {
    const batch = all.slice(i, i + IDS_PER_QUERY);
    const live = await existing(batch);
    for (const id of batch) {
      if (live.has(id)) continue;
      await deletePrefix(store, uploadPrefix(id));
      removed?.(id);
      count++;
    }
  }
  return count;
}
