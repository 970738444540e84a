import { z } from 'zod';
import { CountryCode } from './agents.schema.js';
import { queryInt } from './query.js';
import { text } from './text.js';
import { FILE_TYPES } from './analysis.js';
import { Sha256 } from './hashes.js';
import { MatchView, SampleSummary } from './sample.schema.js';
import { SampleKind, SAMPLE_KINDS, VERDICTS, Verdict } from './submission.schema.js';
import { Count, Country, Id, IsoTime, Sha256Hex } from './views.js';

/**
 * The first and last instants a time bound may name: years 0001 to 9999 in UTC, which PostgreSQL reads as
 * the ISO text the queries send (`0000-…`, year 0 after an offset, and `+010000-…` were its errors: 500s).
 */
export const EARLIEST_TIME = Date.parse('0001-01-01T00:00:00.000Z');
export const LATEST_TIME = Date.parse('9999-12-31T23:59:59.999Z');
const queryDate = z.iso
  .datetime({ offset: true })
  .transform((s) => new Date(s))
  .refine((d) => d.getTime() >= EARLIEST_TIME && d.getTime() <= LATEST_TIME, {
    message: 'must be a time from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z (UTC)',
  });
const shortText = text(1, 256);

/** An opaque, URL-safe page cursor as returned in `nextCursor`. */
export const Cursor = z
  .string()
  .max(512)
  .regex(/^[A-Za-z0-9_-]+$/, 'cursor must be a value returned as nextCursor');

export const SAMPLE_SORTS = ['firstSeen', 'lastSeen', 'size'] as const;
export type SampleSort = (typeof SAMPLE_SORTS)[number];
export const SORT_ORDERS = ['asc', 'desc'] as const;
export type SortOrder = (typeof SORT_ORDERS)[number];

/** Page size of every list: 50 by default, at most 500. */
export const PageLimit = queryInt(1, 500, 50);

/** `GET /v1/samples` query: every filter is optional and they combine with AND. */
export const SearchSamplesQuery = z
  .strictObject({
    /** md5, sha1 or sha256 (by its length), exact, any case. */
    hash: z
      .string()
      .regex(/^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$/, 'hash must be an md5, sha1 or sha256')
      .transform((s) => s.toLowerCase())
      .optional(),
    kind: z.enum(SAMPLE_KINDS).optional(),
    verdict: z.enum(VERDICTS).optional(),
    /** A rule that matched in the sample's latest scan. */
    rule: shortText.optional(),
    /** A tag of a rule that matched in the sample's latest scan. */
    tag: shortText.optional(),
    /** The analyzers' file type from the latest scan. */
    fileType: z.enum(FILE_TYPES).optional(),
    /** Sighted at least once by an agent enrolled with this country (ISO 3166-1 alpha-2, any case). */
    country: CountryCode.optional(),
    sizeMin: queryInt(0, Number.MAX_SAFE_INTEGER).optional(),
    sizeMax: queryInt(0, Number.MAX_SAFE_INTEGER).optional(),
    firstSeenFrom: queryDate.optional(),
    firstSeenTo: queryDate.optional(),
    lastSeenFrom: queryDate.optional(),
    lastSeenTo: queryDate.optional(),
    sort: z.enum(SAMPLE_SORTS).default('firstSeen'),
    order: z.enum(SORT_ORDERS).default('desc'),
    limit: PageLimit,
    cursor: Cursor.optional(),
  })
  .superRefine((q, ctx) => {
    if (q.sizeMin !== undefined && q.sizeMax !== undefined && q.sizeMin > q.sizeMax) {
      ctx.addIssue({ code: 'custom', path: ['sizeMax'], message: 'sizeMax must not be below sizeMin' });
    }
    // Swapped time bounds, like swapped sizes, are a mistake to say, not a range with nothing in it.
    for (const [from, to] of [
      ['firstSeenFrom', 'firstSeenTo'],
      ['lastSeenFrom', 'lastSeenTo'],
    ] as const) {
      const low = q[from];
      const high = q[to];
      if (low !== undefined && high !== undefined && low > high) {
        ctx.addIssue({ code: 'custom', path: [to], message: `${to} must not be before ${from}` });
      }
    }
  });
export type SearchSamplesQuery = z.output<typeof SearchSamplesQuery>;

/** A page of any list: `nextCursor` is null on the last page. */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** The schema of a {@link Page} of `item`. */
export const pageOf = <T extends z.ZodType>(item: T) =>
  z.strictObject({ items: z.array(item), nextCursor: Cursor.nullable() });

/** `GET /v1/samples`. */
export const SamplePage = pageOf(SampleSummary);

/** `limit` and `cursor` of the paginated lists below a sample and of the audit log. */
export const PageQuery = z.strictObject({ limit: PageLimit, cursor: Cursor.optional() });
export type PageQuery = z.output<typeof PageQuery>;

/** How a sighting came: an upload of the bytes, or a hash-first lookup of a stored sample (no metadata). */
export const SightingSource = z.enum(['upload', 'lookup']);
export type SightingSource = z.output<typeof SightingSource>;

/** Query of `GET /v1/samples/:sha256/submissions`: a page, optionally of one source only. */
export const SightingsQuery = PageQuery.extend({ source: SightingSource.optional() });
export type SightingsQuery = z.output<typeof SightingsQuery>;

/** One sighting of a sample, as analysts see it: the submitter only as a pseudonym. */
export const SightingView = z.strictObject({
  id: Id,
  receivedAt: IsoTime,
  kind: SampleKind,
  /** `lookup`: the agent sent the hash only, so `metadata` is empty and `kind` is what it said or `file`. */
  source: SightingSource,
  /** The metadata document the agent sent (validated per kind at ingest, paths scrubbed). */
  metadata: z.record(z.string(), z.unknown()),
  filename: z.string().nullable(),
  /**
   * The sender's keyed pseudonym: HMAC-SHA256 of the agent's id (of the token's, for a person) under
   * PSEUDONYM_KEY, the same value `GET /v1/agents` shows; null for sightings older than the pseudonyms
   * whose token was already gone.
   */
  submitter: Sha256Hex.nullable(),
  /** The agent's country (ISO 3166-1 alpha-2) and product "name version" when it sent this. */
  country: Country.nullable(),
  productVersion: z.string().nullable(),
});
export type SightingView = z.infer<typeof SightingView>;

/** `GET /v1/samples/:sha256/submissions`. */
export const SightingPage = pageOf(SightingView);

/** One YARA run in a sample's history. */
export const ScanView = z.strictObject({
  id: Id,
  ruleset: z.strictObject({ name: z.string(), version: Count }),
  status: z.enum(['scanned', 'timeout', 'failed']),
  verdict: Verdict.nullable(),
  durationMs: Count,
  startedAt: IsoTime,
  finishedAt: IsoTime,
  matches: z.array(MatchView),
});
export type ScanView = z.infer<typeof ScanView>;

/** `GET /v1/samples/:sha256/scans`. */
export const ScanPage = pageOf(ScanView);

/** The largest preview window, in bytes. */
export const PREVIEW_MAX_LENGTH = 64 * 1024;

export const PreviewQuery = z.strictObject({
  offset: queryInt(0, Number.MAX_SAFE_INTEGER, 0),
  length: queryInt(1, PREVIEW_MAX_LENGTH, 4096),
});
export type PreviewQuery = z.output<typeof PreviewQuery>;

export const PreviewRow = z.strictObject({
  offset: Count,
  /** Lowercase hex bytes separated by spaces. */
  hex: z.string().regex(/^(?:[0-9a-f]{2}(?: [0-9a-f]{2})*)?$/),
  /** Printable ASCII (0x20–0x7e) as is, anything else as '.'. */
  ascii: z.string().regex(/^[\x20-\x7e]*$/),
});
export type PreviewRow = z.infer<typeof PreviewRow>;

/** A hex dump window: `length` is what was read (less than asked near the end). */
export const PreviewView = z.strictObject({
  offset: Count,
  length: Count,
  size: Count,
  rows: z.array(PreviewRow),
});
export type PreviewView = z.infer<typeof PreviewView>;

/** `GET /v1/audit` query: `actor` is a token id (uuid) or an actor name. */
export const AuditQuery = z
  .strictObject({
    actor: shortText.optional(),
    action: z
      .string()
      .regex(/^[a-z][a-z0-9_.-]{0,63}$/, 'action must be a dotted verb like sample.download')
      .optional(),
    from: queryDate.optional(),
    to: queryDate.optional(),
    limit: PageLimit,
    cursor: Cursor.optional(),
  })
  // Like the search's bounds: swapped ones are a mistake to say, not a range with nothing in it.
  .refine((q) => q.from === undefined || q.to === undefined || q.from <= q.to, {
    message: 'to must not be before from',
    path: ['to'],
  });
export type AuditQuery = z.output<typeof AuditQuery>;

export const AuditView = z.strictObject({
  id: Count,
  at: IsoTime,
  actorId: Id.nullable(),
  actorName: z.string(),
  action: z.string(),
  targetType: z.string(),
  targetId: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
});
export type AuditView = z.infer<typeof AuditView>;

/** `GET /v1/audit`. */
export const AuditPage = pageOf(AuditView);

/** The `:sha256` path parameter. */
export const Sha256Param = Sha256;
