import type http from 'node:http';
import { Readable, Transform, pipeline } from 'node:stream';
import { type Client, CopyDestinationOptions, CopySourceOptions } from 'minio';
import { SpecimenError } from '#contracts';
import { checkRange, checkSize, freeBuffer, readChunks } from './body.js';
import { assertValidKey, assertValidPrefix } from './keys.js';
import { type ByteRange, type ObjectInfo, type ObjectStore, type PutOptions } from './object-store.js';

/** S3 refuses parts below 5 MiB (except the last) and uploads of more than 10,000 parts. */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
const MAX_PART_SIZE = 5 * 1024 * 1024 * 1024;
const MAX_PARTS = 10_000;
const PING_TIMEOUT_MS = 5_000;

const NOT_FOUND_CODES = new Set(['NoSuchKey', 'NotFound']);
const UNAVAILABLE_CODES = new Set([
  // Network.
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  // Server side, or a configuration this service cannot fix at run time.
  'InternalError',
  'ServiceUnavailable',
  'SlowDown',
  'RequestTimeout',
  'NoSuchBucket',
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
]);

function errorCodes(err: unknown): string[] {
  if (!(err instanceof Error)) return [];
  const own = 'code' in err && typeof err.code === 'string' ? [err.code] : [];
  // A host name with several addresses fails with an AggregateError of per-address errors.
  return err instanceof AggregateError ? [...own, ...err.errors.flatMap(errorCodes)] : own;
}

function isNotFound(err: unknown): boolean {
  return errorCodes(err).some((code) => NOT_FOUND_CODES.has(code));
}

function unavailable(err: unknown): SpecimenError {
  const code = errorCodes(err)[0];
  return new SpecimenError(
    'STORAGE_UNAVAILABLE',
    'Object storage is unavailable',
    { driver: 's3', code },
    { cause: err },
  );
}

/** Maps what the minio client throws to the project's errors; anything unrecognised passes through. */
function storageError(err: unknown): unknown {
  if (err instanceof SpecimenError) return err;
  // minio retries 5xx answers once and then throws a plain Error without a code.
  const retriesExhausted = err instanceof Error && /Retryable HTTP status/.test(err.message);
  return retriesExhausted || errorCodes(err).some((code) => UNAVAILABLE_CODES.has(code))
    ? unavailable(err)
    : err;
}

async function s3<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (err) {
    throw storageError(err);
  }
}

/** Passes the first `limit` bytes through and then ends. */
function truncate(limit: number): Transform {
  let remaining = limit;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      const part = remaining > 0 ? chunk.subarray(0, remaining) : undefined;
      remaining -= part?.length ?? 0;
      callback(null, part);
    },
  });
}

/** Up to this many bytes, a part is kept as the chunks that arrived (see {@link PartBuffer}). */
const LISTED_BYTES = 4 * 1024 * 1024;

/**
 * Collects one part. A small object is kept as the list of chunks it arrived in and joined once at the
 * end (one copy); past {@link LISTED_BYTES} the bytes go into one buffer of the part size, reused from
 * part to part, so a large upload holds one part and makes no garbage. (It used to start at 64 KiB and
 * double: 2 MiB of copies and garbage for a 1 MiB object, which 20 parallel uploads turned into tens of
 * MB of peak RSS.)
 */
class PartBuffer {
  private chunks: Buffer[] = [];
  private buffer: Buffer | null = null;
  /** The buffer {@link contents} allocated to join the chunks (ours to free). */
  private joined: Buffer | null = null;
  private length = 0;

  constructor(private readonly capacity: number) {}

  get full(): boolean {
    return this.length === this.capacity;
  }

  /** Takes from `chunk[offset..]` as many bytes as fit and returns how many it took. */
  append(chunk: Buffer, offset: number): number {
    const taken = Math.min(this.capacity - this.length, chunk.length - offset);
    const piece = taken === chunk.length ? chunk : chunk.subarray(offset, offset + taken);
    if (this.buffer === null && this.length + taken <= LISTED_BYTES) {
      this.chunks.push(piece);
    } else {
      if (this.buffer === null) {
        this.buffer = this.gather(Buffer.allocUnsafeSlow(this.capacity));
        this.chunks = [];
      }
      piece.copy(this.buffer, this.length);
    }
    this.length += taken;
    return taken;
  }

  /** The collected bytes; valid until the next append, clear or release. */
  contents(): Buffer {
    if (this.buffer !== null) return this.buffer.subarray(0, this.length);
    if (this.chunks.length === 1) return this.chunks[0]!;
    this.joined = this.gather(Buffer.allocUnsafeSlow(this.length));
    this.chunks = [this.joined];
    return this.joined;
  }

  /** Copies the listed chunks to the start of `into`. */
  private gather(into: Buffer): Buffer {
    let at = 0;
    for (const listed of this.chunks) at += listed.copy(into, at);
    return into;
  }

  clear(): void {
    this.chunks = [];
    this.length = 0;
  }

  /**
   * Frees the buffer this PartBuffer allocated, now rather than at the next full garbage collection: it
   * lived through the whole upload, so it was promoted to the old generation, where V8 only frees it when a
   * major collection comes, and 20 parallel 1 MiB uploads left ~40 MB of such buffers behind. Only after
   * the server has answered for every byte: nothing may still be writing them to a socket.
   */
  release(): void {
    const own = [this.joined, this.buffer];
    this.buffer = null;
    this.joined = null;
    this.clear();
    for (const b of own) if (b !== null) freeBuffer(b);
  }
}

/** What the minio client calls to make a request: `request` of node:http or node:https. */
type Transport = Pick<typeof http, 'request'>;

/**
 * Wraps node:http(s) so that a request whose socket stays silent for `ms` before the answer's headers
 * arrive is destroyed with ETIMEDOUT (which maps to STORAGE_UNAVAILABLE): a stalled S3 fails a put,
 * stat or get instead of hanging it. The timer stops at the headers, because a body read is paced by
 * the reader (a slow download pauses the socket without anything being wrong).
 */
export function answerTimeoutTransport(base: Transport, ms: number): Transport {
  const request = (...args: Parameters<typeof http.request>): http.ClientRequest => {
    const request = base.request(...args);
    request.setTimeout(ms, () => {
      const error = Object.assign(new Error(`object storage did not answer within ${ms} ms`), {
        code: 'ETIMEDOUT',
      });
      request.destroy(error);
    });
    request.once('response', () => request.setTimeout(0));
    return request;
  };
  return { request: request as typeof http.request };
}

function notFound(key: string, cause?: unknown): SpecimenError {
  return new SpecimenError('NOT_FOUND', 'Object not found', { key }, { cause });
}

/**
 * Keeps objects in one S3 bucket through the minio client. `put` runs its own multipart upload with a
 * fixed part size instead of `Client.putObject`, which would pick ~550 MB parts for a stream of unknown
 * length and looks for resumable uploads with a multipart listing that s3rver does not implement.
 */
export class S3ObjectStore implements ObjectStore {
  readonly driver = 's3';

  constructor(
    private readonly client: Client,
    private readonly bucket: string,
    private readonly partSize: number,
  ) {
    if (!Number.isSafeInteger(partSize) || partSize < MIN_PART_SIZE || partSize > MAX_PART_SIZE) {
      throw new Error(`S3 part size must be an integer between ${MIN_PART_SIZE} and ${MAX_PART_SIZE} bytes`);
    }
  }

  /** Creates the bucket if it does not exist yet. */
  async ensureBucket(region: string): Promise<void> {
    if (await s3(() => this.client.bucketExists(this.bucket))) return;
    try {
      await this.client.makeBucket(this.bucket, region);
    } catch (err) {
      // The api and the scanner start together and may both try to create it.
      const raced = errorCodes(err).some(
        (c) => c === 'BucketAlreadyOwnedByYou' || c === 'BucketAlreadyExists',
      );
      if (!raced) throw storageError(err);
    }
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<{ size: number }> {
    assertValidKey(key);
    // A declared size lets a very large object grow its parts instead of hitting the 10,000-part cap.
    const partSize = Math.max(this.partSize, Math.ceil((options.size ?? 0) / MAX_PARTS));
    const parts: { part: number; etag: string }[] = [];
    const buffer = new PartBuffer(partSize);
    let uploadId: string | undefined;
    let committing = false;
    try {
      let size = 0;
      for await (const chunk of readChunks(body, options.signal)) {
        size += chunk.length;
        for (let offset = 0; offset < chunk.length;) {
          offset += buffer.append(chunk, offset);
          if (buffer.full) {
            uploadId ??= await s3(() => this.client.initiateNewMultipartUpload(this.bucket, key, {}));
            parts.push(await this.uploadPart(key, uploadId, parts.length + 1, buffer.contents()));
            buffer.clear();
          }
        }
      }
      checkSize(options.size, size);
      const last = buffer.contents();
      options.signal?.throwIfAborted();
      committing = true;
      if (uploadId === undefined) {
        await this.putSmall(key, last, options.sha256?.());
      } else {
        if (last.length > 0) parts.push(await this.uploadPart(key, uploadId, parts.length + 1, last));
        const id = uploadId;
        await s3(() => this.client.completeMultipartUpload(this.bucket, key, id, parts));
      }
      buffer.release();
      return { size };
    } catch (err) {
      await this.discard(key, uploadId, committing);
      throw err;
    }
  }

  /**
   * One PUT of an object that fits a part. `Client.putObject` would first copy the buffer (it wraps it in
   * a stream and reads that back); the request it then makes is this one, signed the same way. Over plain
   * HTTP the signature covers the payload's sha256: the caller's, when it has one (an upload's is computed
   * anyway), else makeRequestAsync hashes the buffer on the event loop (~0.5 ms a MiB).
   */
  private async putSmall(key: string, data: Buffer, sha256: string | undefined): Promise<void> {
    const request = { method: 'PUT', bucketName: this.bucket, objectName: key };
    const res = await s3(() =>
      sha256 !== undefined && this.client.enableSHA256
        ? this.client.makeRequestStreamAsync(
            { ...request, headers: { 'content-length': String(data.length) } },
            data,
            sha256,
            [200],
            '',
          )
        : // makeRequestAsync sets the content-length of a PUT and signs the payload's sha256.
          this.client.makeRequestAsync(request, data),
    );
    res.resume();
    await new Promise((resolve, reject) => res.once('end', resolve).once('error', reject));
  }

  private async uploadPart(
    key: string,
    uploadId: string,
    part: number,
    data: Buffer,
  ): Promise<{ part: number; etag: string }> {
    if (part > MAX_PARTS) throw new Error(`Object too large for ${MAX_PARTS} parts of ${data.length} bytes`);
    const headers = { 'Content-Length': data.length };
    const result = await s3(() =>
      this.client.uploadPart(
        { bucketName: this.bucket, objectName: key, uploadID: uploadId, partNumber: part, headers },
        data,
      ),
    );
    return { part, etag: result.etag };
  }

  /** Best-effort cleanup after a failed put; the original error matters more than a cleanup error. */
  private async discard(key: string, uploadId: string | undefined, committing: boolean): Promise<void> {
    // s3rver answers 405 to AbortMultipartUpload; its orphaned parts are invisible as objects.
    if (uploadId !== undefined)
      await this.client.abortMultipartUpload(this.bucket, key, uploadId).catch(() => {});
    // A failed final request may still have created the object on the server.
    if (committing) await this.client.removeObject(this.bucket, key).catch(() => {});
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    assertValidKey(key);
    if (range) checkRange(range);
    try {
      if (range === undefined || (range.start === 0 && range.end === undefined)) {
        return await this.client.getObject(this.bucket, key);
      }
      const length = range.end === undefined ? 0 : range.end - range.start + 1;
      const stream = await this.client.getPartialObject(this.bucket, key, range.start, length);
      // s3rver reads `bytes=0-0` as `bytes=0-`; never hand out more than was asked for.
      // pipeline() forwards a source error to the caller's stream, and a destroy back to the source.
      return length === 0 ? stream : pipeline(stream, truncate(length), () => {});
    } catch (err) {
      if (isNotFound(err)) throw notFound(key, err);
      // S3 answers 416 to a range that starts past the end; the contract gives an empty stream.
      if (errorCodes(err).includes('InvalidRange')) return Readable.from([]);
      throw storageError(err);
    }
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    assertValidKey(key);
    try {
      const info = await this.client.statObject(this.bucket, key);
      return { key, size: info.size, lastModified: info.lastModified };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw storageError(err);
    }
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    await s3(() => this.client.removeObject(this.bucket, key));
  }

  async promote(
    from: string,
    to: string,
    options: { keepSource?: boolean } = {},
  ): Promise<'moved' | 'existed'> {
    if (from === to)
      throw new SpecimenError('VALIDATION_FAILED', 'promote() needs two different keys', { key: to });
    const source = await this.stat(from);
    if (source === null) throw notFound(from);
    // Not atomic across two racing promotes to one key; both copy identical content-addressed bytes.
    if ((await this.stat(to)) !== null) {
      if (options.keepSource !== true) await this.delete(from);
      return 'existed';
    }
    try {
      await this.client.copyObject(
        new CopySourceOptions({ Bucket: this.bucket, Object: from }),
        new CopyDestinationOptions({ Bucket: this.bucket, Object: to }),
      );
    } catch (err) {
      if (isNotFound(err)) throw notFound(from, err);
      // A racing promote's copy may have made ours fail (s3rver answers 500 to concurrent copies onto one
      // key, after the client's one retry): the object it left is these same bytes.
      const raced = await this.stat(to).catch(() => null);
      if (raced === null || raced.size !== source.size) throw storageError(err);
      if (options.keepSource !== true) await this.delete(from);
      return 'existed';
    }
    if (options.keepSource !== true) await this.delete(from);
    return 'moved';
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    assertValidPrefix(prefix);
    try {
      for await (const item of this.client.listObjectsV2(this.bucket, prefix, true) as AsyncIterable<{
        name?: string;
        size: number;
        lastModified: Date;
      }>) {
        if (item.name !== undefined)
          yield { key: item.name, size: item.size, lastModified: item.lastModified };
      }
    } catch (err) {
      throw storageError(err);
    }
  }

  localPath(key: string): null {
    assertValidKey(key);
    return null;
  }

  async ping(): Promise<void> {
    let exists: boolean;
    try {
      exists = await Promise.race([
        this.client.bucketExists(this.bucket),
        new Promise<never>((_, reject) =>
          setTimeout(
            () => reject(new Error(`No answer within ${PING_TIMEOUT_MS} ms`)),
            PING_TIMEOUT_MS,
          ).unref(),
        ),
      ]);
    } catch (err) {
      throw unavailable(err);
    }
    if (!exists) {
      throw new SpecimenError('STORAGE_UNAVAILABLE', 'Object storage bucket does not exist', {
        driver: 's3',
        bucket: this.bucket,
      });
    }
  }
}
