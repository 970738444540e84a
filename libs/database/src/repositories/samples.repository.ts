import type { AnyColumn, SQL } from 'drizzle-orm';
import { and, asc, desc, eq, gte, inArray, sql } from '../drizzle.js';
import type pg from 'pg';
import type {
  AnalysisResult,
  SampleKind,
  SampleSort,
  SampleSummary,
  ScanStatus,
  SightingSource,
  SortOrder,
  Verdict,
} from '#contracts';
import type { Database } from '../database.js';
import { matches, rulesets, samples, scans, submissions, type StoredStringMatch } from '../schema.js';
import { afterMillisecond } from './time-bounds.js';

export interface MatchRecord {
  rule: string;
  namespace: string;
  tags: string[];
  meta: Record<string, string | number | boolean>;
  strings: StoredStringMatch[];
  /** The rule was marked noisy: recorded, not counted in the verdict. */
  noisy: boolean;
}

export interface SampleRecord {
  sha256: string;
  sha1: string;
  md5: string;
  size: number;
  kind: SampleKind;
  objectKey: string;
  firstSeen: Date;
  lastSeen: Date;
  sightings: number;
  scanStatus: ScanStatus;
  verdict: Verdict | null;
  latestScanId: string | null;
  fileType: string | null;
}

/** What a scan needs of its sample's row. */
export type ScanTarget = Pick<SampleRecord, 'sha256' | 'kind' | 'size' | 'objectKey'>;

/** Where a sample's bytes are: what a download, a preview or a HEAD needs of its row. */
export type SampleObject = Pick<SampleRecord, 'sha256' | 'size' | 'objectKey'>;

/** The row of {@link SamplesRepository.objectOf}: a named prepared statement, parsed once per connection. */
const OBJECT_OF = `select sha256, size, object_key from samples where sha256 = $1 and last_seen >= $2::timestamptz`;

/** Fixed text, one array parameter: a named prepared statement, parsed once per connection. */
const SCAN_TARGETS = `select sha256, kind, size, object_key from samples where sha256 = any($1::char(64)[])`;

/** What a search returns per sample: the columns of its summary, not the copies or the storage key. */
export type SampleSummaryRecord = Pick<
  SampleRecord,
  | 'sha256'
  | 'sha1'
  | 'md5'
  | 'size'
  | 'kind'
  | 'firstSeen'
  | 'lastSeen'
  | 'sightings'
  | 'scanStatus'
  | 'verdict'
>;

const SUMMARY_COLUMNS = {
  sha256: samples.sha256,
  sha1: samples.sha1,
  md5: samples.md5,
  size: samples.size,
  kind: samples.kind,
  firstSeen: samples.firstSeen,
  lastSeen: samples.lastSeen,
  sightings: samples.sightings,
  scanStatus: samples.scanStatus,
  verdict: samples.verdict,
};

export interface LatestScan {
  id: string;
  rulesetId: string;
  rulesetName: string;
  rulesetVersion: number;
  finishedAt: Date;
  matches: MatchRecord[];
  analysis: AnalysisResult | null;
}

/**
 * Position of a row in a keyset-ordered list: the sort column as exact text (timestamps to the
 * microsecond, which a JS Date would round to the millisecond and so skip or repeat rows) and the
 * row's unique tie-breaker.
 */
export interface KeysetPosition {
  key: string;
  id: string;
}

/** Filters of {@link SamplesRepository.search}; all optional, combined with AND. */
export interface SampleSearch {
  /** Lowercase md5, sha1 or sha256 (chosen by length). */
  hash?: string;
  kind?: SampleKind;
  verdict?: Verdict;
  /** A rule that matched in the sample's latest scan. */
  rule?: string;
  /** A tag of a rule that matched in the sample's latest scan. */
  tag?: string;
  /** The analyzers' file type from the latest scan. */
  fileType?: string;
  /** Upper-case ISO 3166-1 alpha-2: sighted at least once by an agent enrolled with that country. */
  country?: string;
  sizeMin?: number;
  sizeMax?: number;
  firstSeenFrom?: Date;
  firstSeenTo?: Date;
  lastSeenFrom?: Date;
  lastSeenTo?: Date;
  /** Retention cutoff: samples last sighted before it are expired and left out. */
  seenSince?: Date;
  sort: SampleSort;
  order: SortOrder;
  limit: number;
  /** Rows strictly after this position in the requested order. */
  after?: KeysetPosition;
}

export interface SightingRecord {
  id: string;
  receivedAt: Date;
  kind: SampleKind;
  source: SightingSource;
  metadata: Record<string, unknown>;
  filename: string | null;
  submitter: string | null;
  country: string | null;
  productVersion: string | null;
}

export interface ScanRecord {
  id: string;
  rulesetName: string;
  rulesetVersion: number;
  status: 'scanned' | 'timeout' | 'failed';
  verdict: Verdict | null;
  durationMs: number;
  startedAt: Date;
  finishedAt: Date;
  matches: MatchRecord[];
}

/** A page of rows with the position of each, for the caller's cursor. */
export interface KeysetPage<T> {
  rows: { row: T; position: KeysetPosition }[];
  /** True when more rows follow the last one. */
  more: boolean;
}

/** A timestamp as exact ISO text in UTC, to the microsecond: the key of a keyset position. */
const MICROS_UTC = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`;
const microsUtc = (column: AnyColumn) =>
  sql<string>`to_char(${column} at time zone 'UTC', ${sql.raw(MICROS_UTC)})`;

/** `"samples"."column"`, as the query builder names a column of the samples table. */
const qualified = (column: AnyColumn) => `"samples"."${column.name}"`;

/** `select` and the summary columns of a search (its sort key follows them). */
const SEARCH_SELECT = `select ${Object.values(SUMMARY_COLUMNS)
  .map((c) => `"${c.name}"`)
  .join(', ')}`;

const SEARCH_SORTS: Record<SampleSort, { column: AnyColumn; key: string; cast: string }> = {
  firstSeen: {
    column: samples.firstSeen,
    key: `to_char("${samples.firstSeen.name}" at time zone 'UTC', ${MICROS_UTC})`,
    cast: 'timestamptz',
  },
  lastSeen: {
    column: samples.lastSeen,
    key: `to_char("${samples.lastSeen.name}" at time zone 'UTC', ${MICROS_UTC})`,
    cast: 'timestamptz',
  },
  size: { column: samples.size, key: `"${samples.size.name}"::text`, cast: 'bigint' },
};

/** A search row as PostgreSQL's text, in {@link SEARCH_SELECT}'s order. */
type SearchRow = [
  sha256: string,
  sha1: string,
  md5: string,
  size: string,
  kind: SampleKind,
  firstSeen: string,
  lastSeen: string,
  sightings: string,
  scanStatus: ScanStatus,
  verdict: Verdict | null,
  key: string,
];

/** Every column as the text PostgreSQL sent: the search maps its few columns itself. */
const TEXT_TYPES = { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig;

/** `2026-01-02 03:04:05.123456+00`, the text of a UTC timestamptz between the years 1000 and 9999. */
const UTC_TIMESTAMPTZ = /^[1-9]\d{3}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,6})?\+00$/;

/**
 * `new Date(text).toISOString()` of a timestamptz's text (what the query builder's mapping and
 * `Date#toISOString` made of it: the fraction cut to milliseconds) without a Date, when the session is in
 * UTC; any other text goes through Date.
 */
export function isoMillis(text: string): string {
  if (!UTC_TIMESTAMPTZ.test(text)) return new Date(text).toISOString();
  const fraction = text.length === 22 ? '000' : `${text.slice(20, -3)}00`.slice(0, 3);
  return `${text.slice(0, 10)}T${text.slice(11, 19)}.${fraction}Z`;
}

/** `(column, id) > (key, id)` (or `<` when descending): the rows after a position, by one index range. */
function afterPosition(
  column: AnyColumn,
  id: AnyColumn,
  cast: SQL,
  order: SortOrder,
  at: KeysetPosition,
): SQL {
  const op = order === 'asc' ? sql`>` : sql`<`;
  return sql`(${column}, ${id}) ${op} (${at.key}::${cast}, ${at.id})`;
}

function page<T>(rows: { row: T; position: KeysetPosition }[], limit: number): KeysetPage<T> {
  return { rows: rows.slice(0, limit), more: rows.length > limit };
}

export class SamplesRepository {
  constructor(private readonly database: Database) {}

  /** The sample; with `seenSince`, only when it was last sighted at or after it (not yet expired). */
  async findBySha256(sha256: string, seenSince?: Date): Promise<SampleRecord | null> {
    const [row] = await this.database.db
      .select()
      .from(samples)
      .where(
        seenSince === undefined
          ? eq(samples.sha256, sha256)
          : and(eq(samples.sha256, sha256), gte(samples.lastSeen, seenSince)),
      )
      .limit(1);
    return row ?? null;
  }

  /**
   * {@link findBySha256}'s answer cut to the object's key and size, for the routes that hand out bytes: one
   * prepared statement of three columns instead of the query builder's full row (which cost the API
   * 0.44–0.60 ms of CPU a call against 0.14–0.17, measured on 1,000,000 samples).
   */
  async objectOf(sha256: string, seenSince: Date): Promise<SampleObject | null> {
    const { rows } = await this.database.rawQuery<{ sha256: string; size: string; object_key: string }>({
      name: 'samples.objectOf',
      text: OBJECT_OF,
      values: [sha256, seenSince.toISOString()],
    });
    const [row] = rows;
    return row === undefined
      ? null
      : { sha256: row.sha256, size: Number(row.size), objectKey: row.object_key };
  }

  /** {@link findBySha256} for many samples in one query: one entry per given hash, in order. */
  async findManyBySha256(sha256s: readonly string[]): Promise<Array<SampleRecord | null>> {
    if (sha256s.length === 0) return [];
    const rows = await this.database.db
      .select()
      .from(samples)
      .where(inArray(samples.sha256, [...new Set(sha256s)]));
    const bySha256 = new Map(rows.map((row) => [row.sha256, row]));
    return sha256s.map((sha256) => bySha256.get(sha256) ?? null);
  }

  /**
   * {@link findManyBySha256} for the scanner's hot path: only the columns a scan needs, in one prepared
   * statement, in the order asked (null for unknown samples).
   */
  async scanTargets(sha256s: readonly string[]): Promise<Array<ScanTarget | null>> {
    if (sha256s.length === 0) return [];
    const { rows } = await this.database.rawQuery<{
      sha256: string;
      kind: SampleKind;
      size: string;
      object_key: string;
    }>({ name: 'samples.scanTargets', text: SCAN_TARGETS, values: [[...new Set(sha256s)]] });
    const bySha256 = new Map(
      rows.map((r) => [
        r.sha256,
        { sha256: r.sha256, kind: r.kind, size: Number(r.size), objectKey: r.object_key },
      ]),
    );
    return sha256s.map((sha256) => bySha256.get(sha256) ?? null);
  }

  /** The scan a sample's verdict comes from, with its matches. */
  async latestScan(sample: SampleRecord): Promise<LatestScan | null> {
    if (sample.latestScanId === null) return null;
    const [scan] = await this.database.db
      .select({
        id: scans.id,
        rulesetId: scans.rulesetId,
        rulesetName: rulesets.name,
        rulesetVersion: rulesets.version,
        finishedAt: scans.finishedAt,
        analysis: scans.analysis,
      })
      .from(scans)
      .innerJoin(rulesets, eq(rulesets.id, scans.rulesetId))
      .where(eq(scans.id, sample.latestScanId))
      .limit(1);
    if (scan === undefined) return null;
    const rows = await this.database.db
      .select({
        rule: matches.rule,
        namespace: matches.namespace,
        tags: matches.tags,
        meta: matches.meta,
        strings: matches.strings,
        noisy: matches.noisy,
      })
      .from(matches)
      .where(eq(matches.scanId, scan.id))
      .orderBy(asc(matches.id));
    return { ...scan, matches: rows };
  }

  /**
   * When the sample was last sighted, exactly: its newest submission's time (one probe of the
   * `(sample_sha256, received_at)` index). The row's `last_seen` is that to within a minute (see
   * lastSeenAt in submissions.repository.ts); null when it has no submission left.
   */
  async lastSighting(sha256: string): Promise<Date | null> {
    const [row] = await this.database.db
      .select({ at: submissions.receivedAt })
      .from(submissions)
      .where(eq(submissions.sampleSha256, sha256))
      .orderBy(desc(submissions.receivedAt))
      .limit(1);
    return row?.at ?? null;
  }

  /**
   * The metadata document of the sample's latest upload (what the analyzers read), or null. Lookup
   * sightings carry none (`{}`), so they are passed over: a lookup must not blank a memory region's pid,
   * base address and protection for its next scan.
   */
  async latestMetadata(sha256: string): Promise<Record<string, unknown> | null> {
    const [row] = await this.database.db
      .select({ metadata: submissions.metadata })
      .from(submissions)
      .where(and(eq(submissions.sampleSha256, sha256), eq(submissions.source, 'upload')))
      .orderBy(desc(submissions.receivedAt))
      .limit(1);
    return row?.metadata ?? null;
  }

  /**
   * One page of samples matching every filter, in keyset order (sort column, then sha256), as the API shows
   * them. The statement ({@link searchStatement}) is plain text run on the pool with every column read as
   * text and rows as arrays: the query builder's building and mapping and a Date per timestamp were over a
   * third of the API's CPU time on a cheap search.
   */
  async search(q: SampleSearch): Promise<KeysetPage<SampleSummary>> {
    const { rows } = await this.database.rawQuery<SearchRow>({
      ...this.searchStatement(q),
      rowMode: 'array',
      types: TEXT_TYPES,
    });
    return page(
      rows.map((r) => ({
        row: {
          sha256: r[0],
          sha1: r[1],
          md5: r[2],
          size: Number(r[3]),
          kind: r[4],
          firstSeen: isoMillis(r[5]),
          lastSeen: isoMillis(r[6]),
          sightings: Number(r[7]),
          scanStatus: r[8],
          verdict: r[9],
        },
        position: { key: r[10], id: r[0] },
      })),
      q.limit,
    );
  }

  /**
   * The SQL text and parameters {@link search} sends for these filters (one more row than `limit`, to tell
   * whether a page follows); the search benchmark runs the very same statement straight on PostgreSQL.
   */
  searchStatement(q: SampleSearch): { text: string; values: unknown[] } {
    const sort = SEARCH_SORTS[q.sort];
    const values: unknown[] = [];
    const param = (value: unknown) => `$${values.push(value)}`;
    const conditions: string[] = [];
    const where = (column: AnyColumn, op: string, value: unknown) =>
      conditions.push(`${qualified(column)} ${op} ${param(value)}`);
    // Copies on the row kept by triggers (migration 0010), each with a GIN index: no join per candidate row.
    const contains = (column: AnyColumn, value: string) =>
      conditions.push(`${qualified(column)} @> array[${param(value)}]::text[]`);
    if (q.hash !== undefined) {
      where(
        q.hash.length === 32 ? samples.md5 : q.hash.length === 40 ? samples.sha1 : samples.sha256,
        '=',
        q.hash,
      );
    }
    if (q.kind !== undefined) where(samples.kind, '=', q.kind);
    if (q.verdict !== undefined) where(samples.verdict, '=', q.verdict);
    if (q.rule !== undefined) contains(samples.matchRules, q.rule);
    if (q.tag !== undefined) contains(samples.matchTags, q.tag);
    if (q.fileType !== undefined) where(samples.fileType, '=', q.fileType);
    if (q.country !== undefined) contains(samples.countries, q.country);
    if (q.sizeMin !== undefined) where(samples.size, '>=', q.sizeMin);
    if (q.sizeMax !== undefined) where(samples.size, '<=', q.sizeMax);
    // As the query builder sends a timestamp parameter.
    if (q.firstSeenFrom !== undefined) where(samples.firstSeen, '>=', q.firstSeenFrom.toISOString());
    // A `…To` bound includes the whole millisecond it names (see afterMillisecond).
    if (q.firstSeenTo !== undefined) {
      where(samples.firstSeen, '<', afterMillisecond(q.firstSeenTo).toISOString());
    }
    if (q.lastSeenFrom !== undefined) where(samples.lastSeen, '>=', q.lastSeenFrom.toISOString());
    if (q.lastSeenTo !== undefined)
      where(samples.lastSeen, '<', afterMillisecond(q.lastSeenTo).toISOString());
    if (q.seenSince !== undefined) where(samples.lastSeen, '>=', q.seenSince.toISOString());
    if (q.after !== undefined) {
      const op = q.order === 'asc' ? '>' : '<';
      conditions.push(
        `(${qualified(sort.column)}, ${qualified(samples.sha256)}) ${op} (${param(q.after.key)}::${sort.cast}, ${param(q.after.id)})`,
      );
    }
    const filter =
      conditions.length === 0
        ? ''
        : conditions.length === 1
          ? ` where ${conditions[0]}`
          : ` where (${conditions.join(' and ')})`;
    const direction = q.order === 'asc' ? 'asc' : 'desc';
    const text =
      `${SEARCH_SELECT}, ${sort.key} from "samples"${filter} order by ${qualified(sort.column)} ${direction}, ` +
      `${qualified(samples.sha256)} ${direction} limit ${param(q.limit + 1)}`;
    return { text, values };
  }

  /** Sightings of a sample, newest first. */
  async sightings(
    sha256: string,
    limit: number,
    after?: KeysetPosition,
    source?: SightingRecord['source'],
  ): Promise<KeysetPage<SightingRecord>> {
    const rows = await this.database.db
      .select({
        id: submissions.id,
        receivedAt: submissions.receivedAt,
        kind: submissions.kind,
        source: submissions.source,
        metadata: submissions.metadata,
        filename: submissions.filename,
        submitter: submissions.submitter,
        country: submissions.country,
        productVersion: submissions.productVersion,
        key: microsUtc(submissions.receivedAt),
      })
      .from(submissions)
      .where(
        and(
          eq(submissions.sampleSha256, sha256),
          source === undefined ? undefined : eq(submissions.source, source),
          after === undefined
            ? undefined
            : afterPosition(submissions.receivedAt, submissions.id, sql`timestamptz`, 'desc', {
                key: after.key,
                id: after.id,
              }),
        ),
      )
      .orderBy(desc(submissions.receivedAt), desc(submissions.id))
      .limit(limit + 1);
    return page(
      rows.map(({ key, ...row }) => ({ row, position: { key, id: row.id } })),
      limit,
    );
  }

  /** Scans of a sample, newest first, each with its ruleset and matches. */
  async scans(sha256: string, limit: number, after?: KeysetPosition): Promise<KeysetPage<ScanRecord>> {
    const rows = await this.database.db
      .select({
        id: scans.id,
        rulesetName: rulesets.name,
        rulesetVersion: rulesets.version,
        status: scans.status,
        verdict: scans.verdict,
        durationMs: scans.durationMs,
        startedAt: scans.startedAt,
        finishedAt: scans.finishedAt,
        key: microsUtc(scans.finishedAt),
      })
      .from(scans)
      .innerJoin(rulesets, eq(rulesets.id, scans.rulesetId))
      .where(
        and(
          eq(scans.sampleSha256, sha256),
          after === undefined
            ? undefined
            : afterPosition(scans.finishedAt, scans.id, sql`timestamptz`, 'desc', after),
        ),
      )
      .orderBy(desc(scans.finishedAt), desc(scans.id))
      .limit(limit + 1);
    const shown = rows.slice(0, limit);
    const found =
      shown.length === 0
        ? []
        : await this.database.db
            .select({
              scanId: matches.scanId,
              rule: matches.rule,
              namespace: matches.namespace,
              tags: matches.tags,
              meta: matches.meta,
              strings: matches.strings,
              noisy: matches.noisy,
            })
            .from(matches)
            .where(
              inArray(
                matches.scanId,
                shown.map((r) => r.id),
              ),
            )
            .orderBy(asc(matches.id));
    const byScan = new Map<string, MatchRecord[]>();
    for (const { scanId, ...match } of found) {
      const list = byScan.get(scanId) ?? [];
      list.push(match);
      byScan.set(scanId, list);
    }
    return {
      rows: shown.map(({ key, ...row }) => ({
        row: { ...row, matches: byScan.get(row.id) ?? [] },
        position: { key, id: row.id },
      })),
      more: rows.length > limit,
    };
  }
}
