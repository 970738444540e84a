import type { AnyColumn, SQL } from 'drizzle-orm';
import { and, asc, desc, eq, gte, inArray, lte, sql } from '../drizzle.js';
import type { AnalysisResult, SampleKind, SampleSort, ScanStatus, SortOrder, Verdict } from '#contracts';
import type { Database } from '../database.js';
import { matches, rulesets, samples, scans, submissions, type StoredStringMatch } from '../schema.js';

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

const microsUtc = (column: AnyColumn) =>
  sql<string>`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

const SORTS = {
  firstSeen: { column: samples.firstSeen, key: microsUtc(samples.firstSeen), cast: sql`timestamptz` },
  lastSeen: { column: samples.lastSeen, key: microsUtc(samples.lastSeen), cast: sql`timestamptz` },
  size: { column: samples.size, key: sql<string>`${samples.size}::text`, cast: sql`bigint` },
} as const;

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

  /** The metadata document of the sample's latest submission (what the analyzers read), or null. */
  async latestMetadata(sha256: string): Promise<Record<string, unknown> | null> {
    const [row] = await this.database.db
      .select({ metadata: submissions.metadata })
      .from(submissions)
      .where(eq(submissions.sampleSha256, sha256))
      .orderBy(desc(submissions.receivedAt))
      .limit(1);
    return row?.metadata ?? null;
  }

  /** One page of samples matching every filter, in keyset order (sort column, then sha256). */
  async search(q: SampleSearch): Promise<KeysetPage<SampleSummaryRecord>> {
    const rows = await this.searchQuery(q);
    return page(
      rows.map(({ key, ...row }) => ({ row, position: { key, id: row.sha256 } })),
      q.limit,
    );
  }

  /**
   * The SQL text and parameters {@link search} sends for these filters, so the search benchmark can run the
   * very same statement straight on PostgreSQL.
   */
  searchStatement(q: SampleSearch): { text: string; values: unknown[] } {
    const built = this.searchQuery(q).toSQL();
    return { text: built.sql, values: built.params };
  }

  /** One more row than `limit`, to tell whether a page follows. */
  private searchQuery(q: SampleSearch) {
    const sort = SORTS[q.sort];
    const hashColumn =
      q.hash === undefined
        ? undefined
        : q.hash.length === 32
          ? samples.md5
          : q.hash.length === 40
            ? samples.sha1
            : samples.sha256;
    // Copies on the row kept by triggers (migration 0010), each with a GIN index: no join per candidate row.
    const contains = (column: AnyColumn, value: string) => sql`${column} @> array[${value}]::text[]`;
    const conditions = [
      hashColumn === undefined || q.hash === undefined ? undefined : eq(hashColumn, q.hash),
      q.kind === undefined ? undefined : eq(samples.kind, q.kind),
      q.verdict === undefined ? undefined : eq(samples.verdict, q.verdict),
      q.rule === undefined ? undefined : contains(samples.matchRules, q.rule),
      q.tag === undefined ? undefined : contains(samples.matchTags, q.tag),
      q.fileType === undefined ? undefined : eq(samples.fileType, q.fileType),
      q.country === undefined ? undefined : contains(samples.countries, q.country),
      q.sizeMin === undefined ? undefined : gte(samples.size, q.sizeMin),
      q.sizeMax === undefined ? undefined : lte(samples.size, q.sizeMax),
      q.firstSeenFrom === undefined ? undefined : gte(samples.firstSeen, q.firstSeenFrom),
      q.firstSeenTo === undefined ? undefined : lte(samples.firstSeen, q.firstSeenTo),
      q.lastSeenFrom === undefined ? undefined : gte(samples.lastSeen, q.lastSeenFrom),
      q.lastSeenTo === undefined ? undefined : lte(samples.lastSeen, q.lastSeenTo),
      q.seenSince === undefined ? undefined : gte(samples.lastSeen, q.seenSince),
      q.after === undefined
        ? undefined
        : afterPosition(sort.column, samples.sha256, sort.cast, q.order, q.after),
    ].filter((c) => c !== undefined);
    const direction = q.order === 'asc' ? asc : desc;
    return this.database.db
      .select({ ...SUMMARY_COLUMNS, key: sort.key })
      .from(samples)
      .where(conditions.length === 0 ? undefined : and(...conditions))
      .orderBy(direction(sort.column), direction(samples.sha256))
      .limit(q.limit + 1);
  }

  /** Sightings of a sample, newest first. */
  async sightings(
    sha256: string,
    limit: number,
    after?: KeysetPosition,
  ): Promise<KeysetPage<SightingRecord>> {
    const rows = await this.database.db
      .select({
        id: submissions.id,
        receivedAt: submissions.receivedAt,
        kind: submissions.kind,
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
