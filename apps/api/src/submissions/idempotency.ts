import type { Request } from 'express';
import { IDEMPOTENCY_KEY_HEADER, IdempotencyKey } from '#contracts';
import { parseOrThrow } from '../http/validation.js';

/** Header of an answer that repeats the first answer to its `Idempotency-Key` (as Stripe names it). */
export const REPLAYED_HEADER = 'Idempotent-Replayed';

/**
 * The request's `Idempotency-Key`, when it has one; a malformed key (or two of them) is a 400
 * VALIDATION_FAILED, checked before a byte of the body is read.
 */
export function idempotencyKeyOf(req: Request): string | undefined {
  const value = req.headers[IDEMPOTENCY_KEY_HEADER.toLowerCase()];
  if (value === undefined) return undefined;
  return parseOrThrow(IdempotencyKey, value, IDEMPOTENCY_KEY_HEADER);
}
