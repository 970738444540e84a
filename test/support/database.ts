import { randomBytes } from 'node:crypto';
import { type Database, type RecordSubmissionInput, SubmissionsRepository } from '#database';

/** What an upload of the 10-byte sample `sha256` of kind `file` records (SubmissionsRepository.record). */
export function submissionInput(sha256: string): RecordSubmissionInput {
  return {
    digests: { sha256, sha1: 'a'.repeat(40), md5: 'b'.repeat(32), size: 10 },
    kind: 'file',
    objectKey: `samples/${sha256}`,
    metadata: {},
    filename: null,
    submitter: { pseudonym: 'test', country: null, productVersion: null },
    scanJob: (submissionId) => ({
      queue: 'scan',
      name: 'scan-sample',
      jobId: `scan-${sha256}`,
      payload: { sha256, submissionId },
    }),
  };
}

/** Records a random 10-byte sample of kind `file` as a person's upload would; returns its sha256. */
export async function recordSample(database: Database): Promise<string> {
  const sha256 = randomBytes(32).toString('hex');
  await new SubmissionsRepository(database).record(submissionInput(sha256));
  return sha256;
}
