import { z } from 'zod';

/**
 * Pieces of the response schemas: what the API writes, exactly, so that the OpenAPI document tells clients
 * the truth and a test fails when an answer drifts from it. Not exported from the lib's index.
 */

/** An instant as `Date#toISOString` writes it: UTC, milliseconds. */
export const IsoTime = z.iso.datetime({ precision: 3 });
/** A UTC day, `YYYY-MM-DD`. */
export const IsoDay = z.iso.date();
export const Id = z.uuid();
export const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);
export const Sha1Hex = z.string().regex(/^[0-9a-f]{40}$/);
export const Md5Hex = z.string().regex(/^[0-9a-f]{32}$/);
/** A count, a size or an offset: a whole number from 0. */
export const Count = z.int().nonnegative();
/** An ISO 3166-1 alpha-2 country as stored (upper case). */
export const Country = z.string().regex(/^[A-Z]{2}$/);
/** Who created or changed something: a token's id and name (null when the token is gone). */
export const ActorView = z.strictObject({ id: Id, name: z.string().nullable() });
/** A YARA rule's metadata values. */
export const RuleMeta = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));
