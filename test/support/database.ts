import { randomBytes } from 'node:crypto';
import { type Database, SubmissionsRepository } from '#database';

/** Records a random 10-byte sample of kind `file` as a person's upload would; returns its sha256. */
export async function recordSample(database: Database): Promise<string> {
  const sha256 = randomBytes(32).toString('hex');
  await new SubmissionsRepository(database).record({
    digests: { sha256, sha1: 'a'.repeat(40), md5: 'b'.repeat(32), size: 10 },
    kind: 'file',
    objectKey: `samples/${sha256}`,
    metadata: {},
    filename: null,
    submitter: { pseudonym: 'test', country: null, productVersion: null },
    scanJob: () => ({
      queue: 'scan',
      name: 'scan-sample',
      jobId: `scan-ingest-${sha256}`,
      payload: { sha256 },
    }),
  });
  return sha256;
}
