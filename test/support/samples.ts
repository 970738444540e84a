import { createHash, randomBytes } from 'node:crypto';

/** The EICAR anti-virus test file: harmless, and detected by every scanner (and by the default ruleset). */
export const EICAR = Buffer.from(
  'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*',
  'ascii',
);

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
export const sha1 = (b: Buffer): string => createHash('sha1').update(b).digest('hex');
export const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');

/** Benign random bytes (a fresh sample every call). */
export const benign = (size = 4096): Buffer => randomBytes(size);

/** Metadata for a `file` submission of `bytes`, with every checksum correct unless overridden. */
export function fileMetadata(
  bytes: Buffer,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    kind: 'file',
    sha256: sha256(bytes),
    md5: md5(bytes),
    sha1: sha1(bytes),
    size: bytes.length,
    filename: 'sample.bin',
    ...overrides,
  };
}
