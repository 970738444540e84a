import { z } from 'zod';

/**
 * Text PostgreSQL can store: no NUL (neither text nor jsonb takes it) and no unpaired surrogate (no UTF-8
 * form; jsonb refuses its escape). Let through, either failed the request at its INSERT with a 500, after
 * an upload's bytes were stored.
 */
export const storable = (s: string): boolean => !s.includes('\u0000') && s.isWellFormed();

/** C0 and C1 control characters and DEL (Unicode's general category Cc). */
const CONTROL = /\p{Cc}/u;

/** Free text (a file name, a command line, a search term): whatever PostgreSQL can store. */
export const text = (min: number, max: number) =>
  z.string().min(min).max(max).refine(storable, 'must not contain NUL (\\u0000) or an unpaired surrogate');

/**
 * A label shown, grouped and counted as it is (a product name, an OS version, a token's name): trimmed,
 * printable characters only. A control character in a product version was a way around the statistics'
 * k-anonymity (the suppressed values are compared as a list joined by U+001F) and into a terminal.
 */
export const label = (max: number) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .refine(
      (s) => !CONTROL.test(s) && s.isWellFormed(),
      'must be printable text, without control characters',
    );
