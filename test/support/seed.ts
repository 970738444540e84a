import { Readable } from 'node:stream';
import { createObjectStore, sampleKey } from '#storage';
import { md5, sha1, sha256 } from './samples.js';
import { type TestService, query } from './service.js';

/** Rows one INSERT writes at most while seeding. */
const ROWS_PER_INSERT = 200;

/**
 * Stores `samples` as older samples already scanned clean, first seen a day ago: the objects through the
 * service's store, the rows straight into its database (what retrohunts and retro-scans go over, without
 * a scan each). Their sha256s, in order.
 */
export async function seedScannedSamples(
  service: TestService,
  samples: readonly Buffer[],
): Promise<string[]> {
  const store = await createObjectStore(service.storageUrl);
  const values: unknown[][] = [];
  for (const bytes of samples) {
    const hash = sha256(bytes);
    await store.put(sampleKey(hash), Readable.from([bytes]));
    values.push([hash, sha1(bytes), md5(bytes), bytes.length, sampleKey(hash)]);
  }
  for (let i = 0; i < values.length; i += ROWS_PER_INSERT) {
    const chunk = values.slice(i, i + ROWS_PER_INSERT);
    const rows = chunk.map(
      (_, r) =>
        `($${r * 5 + 1}, $${r * 5 + 2}, $${r * 5 + 3}, $${r * 5 + 4}, 'file', $${r * 5 + 5}, 'scanned', 'clean', now() - interval '1 day')`,
    );
    await query(
      service.databaseUrl,
      `insert into samples (sha256, sha1, md5, size, kind, object_key, scan_status, verdict, first_seen)
       values ${rows.join(', ')}`,
      chunk.flat(),
    );
  }
  return values.map(([hash]) => hash as string);
}
