import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { SpecimenError } from '#contracts';

/** The tus protocol version this server speaks (the only one there is). */
export const TUS_VERSION = '1.0.0';
export const TUS_EXTENSIONS = 'creation,checksum,termination,expiration';
export const CHECKSUM_ALGORITHMS = ['sha1', 'sha256'] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];
const DIGEST_BYTES: Record<ChecksumAlgorithm, number> = { sha1: 20, sha256: 32 };
/** The only body type a tus PATCH may carry. */
export const PATCH_CONTENT_TYPE = 'application/offset+octet-stream';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const KEY = /^[\x21-\x2b\x2d-\x7e]+$/;
const DIGITS = /^(0|[1-9][0-9]{0,15})$/;

const invalidHeader = (header: string, message: string): SpecimenError =>
  new SpecimenError('VALIDATION_FAILED', `${header}: ${message}`, {
    issues: [{ field: header, message }],
  });

/** Every tus request but OPTIONS must say which version it speaks. */
export function assertTusResumable(value: string | undefined): void {
  if (value !== TUS_VERSION) {
    throw new SpecimenError('TUS_VERSION_UNSUPPORTED', `send Tus-Resumable: ${TUS_VERSION}`, {
      supported: [TUS_VERSION],
    });
  }
}

/** A non-negative integer header (`Upload-Length`, `Upload-Offset`). */
export function parseSize(header: string, value: string | undefined): number {
  if (value === undefined) throw invalidHeader(header, 'required');
  const trimmed = value.trim();
  const n = DIGITS.test(trimmed) ? Number(trimmed) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw invalidHeader(header, 'must be a non-negative integer');
  return n;
}

/**
 * `Upload-Metadata`: comma-separated pairs of a key and an optional base64 value. Keys are unique;
 * values are decoded as UTF-8.
 */
export function parseUploadMetadata(value: string | undefined): Map<string, string | null> {
  const pairs = new Map<string, string | null>();
  if (value === undefined || value.trim() === '') return pairs;
  for (const pair of value.split(',')) {
    const [key, encoded, ...rest] = pair.trim().split(' ');
    if (key === undefined || !KEY.test(key) || rest.length > 0) {
      throw invalidHeader('Upload-Metadata', 'pairs must be "key base64value"');
    }
    if (pairs.has(key)) throw invalidHeader('Upload-Metadata', `duplicate key ${key}`);
    if (encoded !== undefined && (encoded.length % 4 !== 0 || !BASE64.test(encoded))) {
      throw invalidHeader('Upload-Metadata', `the value of ${key} is not base64`);
    }
    pairs.set(key, encoded === undefined ? null : Buffer.from(encoded, 'base64').toString('utf8'));
  }
  return pairs;
}

/** The `Upload-Metadata` header of these pairs (the inverse of {@link parseUploadMetadata}). */
export function encodeUploadMetadata(pairs: ReadonlyMap<string, string | null>): string {
  return [...pairs]
    .map(([key, value]) => (value === null ? key : `${key} ${Buffer.from(value, 'utf8').toString('base64')}`))
    .join(',');
}

/** `Upload-Checksum: <algorithm> <base64 digest>`. */
export function parseChecksum(value: string): { algorithm: ChecksumAlgorithm; digest: Buffer } {
  const [algorithm, encoded, ...rest] = value.trim().split(' ');
  if (!CHECKSUM_ALGORITHMS.includes(algorithm as ChecksumAlgorithm)) {
    throw invalidHeader('Upload-Checksum', `supported algorithms: ${CHECKSUM_ALGORITHMS.join(', ')}`);
  }
  if (
    encoded === undefined ||
    rest.length > 0 ||
    !BASE64.test(encoded) ||
    encoded.length === 0 ||
    encoded.length % 4 !== 0
  ) {
    throw invalidHeader('Upload-Checksum', 'expected "<algorithm> <base64 digest>"');
  }
  const digest = Buffer.from(encoded, 'base64');
  // A digest of another length is a malformed header (400), not a chunk that failed its checksum (460).
  if (digest.length !== DIGEST_BYTES[algorithm as ChecksumAlgorithm]) {
    throw invalidHeader(
      'Upload-Checksum',
      `a ${algorithm} digest is ${DIGEST_BYTES[algorithm as ChecksumAlgorithm]} bytes`,
    );
  }
  return { algorithm: algorithm as ChecksumAlgorithm, digest };
}

/**
 * Counts (and, when asked, hashes) the bytes of one PATCH body on their way to storage, and fails the
 * stream with FILE_TOO_LARGE as soon as they would go past the declared `Upload-Length`. A chunk is
 * small (one PATCH), so its one checksum is computed on the event loop. `tap`, when given, sees every
 * byte that goes on to storage, in order (the upload's assembly), without changing how the stream flows.
 */
export class PartMeter extends Transform {
  bytes = 0;
  private readonly hash: Hash | null;

  constructor(
    private readonly remaining: number,
    algorithm: ChecksumAlgorithm | null,
    private readonly tap: ((chunk: Buffer) => void) | null = null,
  ) {
    super();
    this.hash = algorithm === null ? null : createHash(algorithm);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.remaining) {
      callback(
        new SpecimenError('FILE_TOO_LARGE', 'the chunk goes past the declared Upload-Length', {
          remaining: this.remaining,
        }),
      );
      return;
    }
    this.hash?.update(chunk);
    this.tap?.(chunk);
    callback(null, chunk);
  }

  /** Valid once the stream has ended. */
  digest(): Buffer | null {
    return this.hash?.digest() ?? null;
  }
}
