import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';

/** A running in-process S3 server and the STORAGE_URL that reaches it. */
export interface TestS3Server {
  /** `s3://S3RVER:S3RVER@127.0.0.1:<port>/<bucket>?ssl=false`, for createObjectStore. */
  url: string;
  /** Stops the server and removes its data directory. */
  close(): Promise<void>;
}

/**
 * Starts s3rver on 127.0.0.1 with a free port, a fresh temporary directory, no logging and one
 * bucket. s3rver lacks some S3 calls (multipart listing, AbortMultipartUpload).
 */
export async function startS3Server(bucket = 'specimen-test'): Promise<TestS3Server> {
  const directory = await mkdtemp(path.join(tmpdir(), 'specimen-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket }],
  });
  try {
    const { port } = await server.run();
    return {
      // S3RVER/S3RVER are s3rver's built-in credentials.
      url: `s3://S3RVER:S3RVER@127.0.0.1:${port}/${bucket}?ssl=false`,
      async close() {
        await server.close();
        await rm(directory, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(directory, { recursive: true, force: true });
    throw err;
  }
}
