import { z } from 'zod';

const hex = (length: number, name: string) =>
  z
    .string()
    .transform((s) => s.toLowerCase())
    .pipe(
      z.string().regex(new RegExp(`^[0-9a-f]{${length}}$`), `${name} must be ${length} hexadecimal digits`),
    );

export const Sha256 = hex(64, 'sha256');
export const Sha1 = hex(40, 'sha1');
export const Md5 = hex(32, 'md5');

/** True for a lowercase or uppercase sha256 written as 64 hexadecimal digits. */
export const isSha256 = (value: string): boolean => /^[0-9a-fA-F]{64}$/.test(value);

export interface Digests {
  md5: string;
  sha1: string;
  sha256: string;
  size: number;
}
