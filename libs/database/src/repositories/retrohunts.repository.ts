import type { SQL } from 'drizzle-orm';
import { and, asc, desc, eq, gt, gte, inArray, lt, lte, sql } from '../drizzle.js';
import type { RetrohuntStatus, SampleKind } from '#contracts';
import type { Database, Executor } from '../database.js';
import { retrohuntMatches, retrohunts, samples, type StoredStringMatch } from '../schema.js';

export interface RetrohuntRecord {
  id: string;
  source: string;
  sourceSha256: string;
  ruleCount: number;
  status: RetrohuntStatus;
  total: number;
  scanned: number;
  /** Of the samples scanned, those whose scan ran out of time (no match known). */
  timedOut: number;
  bytes: number;
  matchCount: number;
  cursor: string | null;
  error: string | null;
  createdAt: Date;
  createdBy: string | null;
  createdByName: string | null;
  startedAt: Date | null;
  finishedAt: Date | null;
}

/** A retrohunt without its source text. */
export type RetrohuntSummaryRecord = Omit<RetrohuntRecord, 'source'>;

export interface RetrohuntMatchRecord {
  sampleSha256: string;
  rule: string;
  namespace: string;
  tags: string[];
  meta: Record<string, string | number | boolean>;
  strings: StoredStringMatch[];
}

/** A sample as a batch job needs it: where its bytes are and what the YARA externals say. */
export interface BatchSample {
  sha256: string;
  size: number;
  kind: SampleKind;
  objectKey: string;
  fileType: string | null;
}

/** What one batch adds to a retrohunt. */
export interface RetrohuntBatchResult {
  /** The cursor the batch started from (null for the first); the batch is recorded only if it still is. */
  from: string | null;
  /** The last sample of the batch: the next batch starts after it. */
  to: string;
  scanned: number;
  /** Of those, scans that timed out. */
  timedOut?: number;
  bytes: number;
  matches: RetrohuntMatchRecord[];
  /** The retrohunt's last batch: it ends as `done` in the same transaction. */
  last?: boolean;
}

/** A retrohunt's totals once a batch is recorded. */
export interface RetrohuntTotals {
  scanned: number;
  bytes: number;
  matchCount: number;
}

const UNFINISHED: RetrohuntStatus[] = ['queued', 'running'];

/** Everything but the source text, which can be megabytes: what status reads and lists need. */
const summaryColumns = {
  id: retrohunts.id,
  sourceSha256: retrohunts.sourceSha256,
  ruleCount: retrohunts.ruleCount,
  status: retrohunts.status,
  total: retrohunts.total,
  scanned: retrohunts.scanned,
  timedOut: retrohunts.timedOut,
  bytes: retrohunts.bytes,
  matchCount: retrohunts.matchCount,
  cursor: retrohunts.cursor,
  error: retrohunts.error,
  createdAt: retrohunts.createdAt,
  createdBy: retrohunts.createdBy,
  createdByName: sql<string | null>`(select t.name from api_tokens t where t.id = "retrohunts"."created_by")`,
  startedAt: retrohunts.startedAt,
  finishedAt: retrohunts.finishedAt,
};
const columns = { ...summaryColumns, source: retrohunts.source };

/**
 * The samples a batch of a retrohunt or retro-scan covers, after `after` in sha256 order: first seen up to
 * `until`, sighted since the retention cutoff `seenSince` (an expired sample is served to no one, and swept
 * soon), and, with `rule`, whose latest scan matched it (their rule copy, GIN-indexed). The batches and a
 * retro-scan's check walk the same samples with it.
 */
export function coveredSamples(options: {
  after: string | null;
  until: Date;
  seenSince: Date;
  rule?: string;
}): SQL | undefined {
  return and(
    lte(samples.firstSeen, options.until),
    gte(samples.lastSeen, options.seenSince),
    options.after === null ? undefined : gt(samples.sha256, options.after),
    options.rule === undefined ? undefined : sql`${samples.matchRules} @> array[${options.rule}]::text[]`,
  );
}

export class RetrohuntsRepository {
  constructor(private readonly database: Database) {}

  /**
   * A queued retrohunt over the samples stored now and sighted since `seenSince` (the retention cutoff:
   * an expired sample is served to no one, even before the sweep removes it); their count is its total.
   */
  async create(
    input: { id?: string; source: string; sourceSha256: string; ruleCount: number; createdBy: string | null },
    seenSince: Date,
    executor: Executor = this.database.db,
  ): Promise<RetrohuntSummaryRecord> {
    const [row] = await executor
      .insert(retrohunts)
      .values({
        ...input,
        total: sql`(select count(*)::int from samples
                    where first_seen <= now() and last_seen >= ${seenSince.toISOString()}::timestamptz)`,
      })
      .returning({ id: retrohunts.id });
    if (row === undefined) throw new Error('insert returned no row');
    const found = await this.findSummary(row.id, executor);
    if (found === null) throw new Error('the retrohunt just created is gone');
    return found;
  }

  async find(id: string, executor: Executor = this.database.db): Promise<RetrohuntRecord | null> {
    const [row] = await executor.select(columns).from(retrohunts).where(eq(retrohunts.id, id)).limit(1);
    return row ?? null;
  }

  /** {@link find} without the source text. */
  async findSummary(
    id: string,
    executor: Executor = this.database.db,
  ): Promise<RetrohuntSummaryRecord | null> {
    const [row] = await executor
      .select(summaryColumns)
      .from(retrohunts)
      .where(eq(retrohunts.id, id))
      .limit(1);
    return row ?? null;
  }

  /** The retrohunt's rule text, or null when there is no such retrohunt. */
  async source(id: string): Promise<string | null> {
    const [row] = await this.database.db
      .select({ source: retrohunts.source })
      .from(retrohunts)
      .where(eq(retrohunts.id, id))
      .limit(1);
    return row?.source ?? null;
  }

  /** Newest first, without their source texts. */
  async list(limit: number): Promise<RetrohuntSummaryRecord[]> {
    return this.database.db
      .select(summaryColumns)
      .from(retrohunts)
      .orderBy(desc(retrohunts.createdAt))
      .limit(limit);
  }

  /** queued → running; false when the retrohunt is already finished (cancelled, done, failed). */
  async start(id: string): Promise<boolean> {
    const [row] = await this.database.db
      .update(retrohunts)
      .set({
        status: 'running',
        startedAt: sql`coalesce(${retrohunts.startedAt}, now())`,
        progressedAt: sql`now()`,
      })
      .where(and(eq(retrohunts.id, id), inArray(retrohunts.status, UNFINISHED)))
      .returning({ id: retrohunts.id });
    return row !== undefined;
  }

  /** The status of each of `ids` (UUIDs) that is a retrohunt; ids of no retrohunt are not in the map. */
  async statuses(ids: string[]): Promise<Map<string, RetrohuntStatus>> {
    if (ids.length === 0) return new Map();
    const rows = await this.database.db
      .select({ id: retrohunts.id, status: retrohunts.status })
      .from(retrohunts)
      .where(inArray(retrohunts.id, ids));
    return new Map(rows.map((r) => [r.id, r.status]));
  }

  async status(id: string): Promise<RetrohuntStatus | null> {
    const [row] = await this.database.db
      .select({ status: retrohunts.status })
      .from(retrohunts)
      .where(eq(retrohunts.id, id))
      .limit(1);
    return row?.status ?? null;
  }

  /**
   * Records a batch in one transaction: progress, cursor and matches (and `done` for the last batch).
   * Returns the new totals, or null (and records nothing) when the retrohunt is no longer running or
   * another run of the same batch was recorded first.
   */
  async recordBatch(id: string, batch: RetrohuntBatchResult): Promise<RetrohuntTotals | null> {
    return this.database.transaction(async (tx) => {
      const [row] = await tx
        .update(retrohunts)
        .set({
          scanned: sql`${retrohunts.scanned} + ${batch.scanned}`,
          timedOut: sql`${retrohunts.timedOut} + ${batch.timedOut ?? 0}`,
          bytes: sql`${retrohunts.bytes} + ${batch.bytes}`,
          matchCount: sql`${retrohunts.matchCount} + ${batch.matches.length}`,
          cursor: batch.to,
          progressedAt: sql`now()`,
          ...(batch.last === true ? { status: 'done' as const, finishedAt: sql`now()` } : {}),
        })
        .where(
          and(
            eq(retrohunts.id, id),
            eq(retrohunts.status, 'running'),
            sql`${retrohunts.cursor} is not distinct from ${batch.from}`,
          ),
        )
        .returning({
          scanned: retrohunts.scanned,
          bytes: retrohunts.bytes,
          matchCount: retrohunts.matchCount,
        });
      if (row === undefined) return null;
      if (batch.matches.length > 0) {
        await tx
          .insert(retrohuntMatches)
          .values(batch.matches.map((m) => ({ ...m, retrohuntId: id })))
          .onConflictDoNothing();
      }
      if (batch.last === true) return (await this.settle(id, tx)) ?? row;
      return row;
    });
  }

  /**
   * At the end of a hunt, its counts become what it did: the total counted at creation can differ from the
   * samples it went through (samples stored meanwhile with an earlier first seen, samples deleted before it
   * reached them), and the matches of samples deleted during the hunt are gone with them.
   */
  private async settle(id: string, executor: Executor): Promise<RetrohuntTotals | undefined> {
    const [row] = await executor
      .update(retrohunts)
      .set({
        total: retrohunts.scanned,
        matchCount: sql`(select count(*)::int from ${retrohuntMatches} where ${retrohuntMatches.retrohuntId} = ${id})`,
      })
      .where(eq(retrohunts.id, id))
      .returning({ scanned: retrohunts.scanned, bytes: retrohunts.bytes, matchCount: retrohunts.matchCount });
    return row;
  }

  /**
   * Unfinished retrohunts (queued or running) that neither started nor recorded a batch since `olderThan`,
   * the longest quiet first, with the cursor their next batch starts from: the candidates whose next batch
   * job Redis may have lost. By the partial index of unfinished retrohunts (migration 0027).
   */
  async quietSince(olderThan: Date, limit: number): Promise<{ id: string; cursor: string | null }[]> {
    return this.database.db
      .select({ id: retrohunts.id, cursor: retrohunts.cursor })
      .from(retrohunts)
      .where(and(inArray(retrohunts.status, UNFINISHED), lt(retrohunts.progressedAt, olderThan)))
      .orderBy(asc(retrohunts.progressedAt))
      .limit(limit);
  }

  /** Ends an unfinished retrohunt as `done`, `cancelled` or `failed`; null when it was already finished. */
  async finish(
    id: string,
    status: Exclude<RetrohuntStatus, 'queued' | 'running'>,
    error: string | null = null,
    executor: Executor = this.database.db,
  ): Promise<RetrohuntSummaryRecord | null> {
    const [row] = await executor
      .update(retrohunts)
      .set({ status, error, finishedAt: sql`now()` })
      .where(and(eq(retrohunts.id, id), inArray(retrohunts.status, UNFINISHED)))
      .returning({ id: retrohunts.id });
    if (row === undefined) return null;
    if (status === 'done') await this.settle(id, executor);
    return this.findSummary(id, executor);
  }

  /** Matches in the order they were found, after the match id `after`; one more than `limit` tells if more follow. */
  async matches(
    id: string,
    limit: number,
    after?: number,
  ): Promise<{ rows: (RetrohuntMatchRecord & { id: number })[]; more: boolean }> {
    const rows = await this.database.db
      .select({
        id: retrohuntMatches.id,
        sampleSha256: retrohuntMatches.sampleSha256,
        rule: retrohuntMatches.rule,
        namespace: retrohuntMatches.namespace,
        tags: retrohuntMatches.tags,
        meta: retrohuntMatches.meta,
        strings: retrohuntMatches.strings,
      })
      .from(retrohuntMatches)
      .where(
        and(
          eq(retrohuntMatches.retrohuntId, id),
          after === undefined ? undefined : gt(retrohuntMatches.id, after),
        ),
      )
      .orderBy(asc(retrohuntMatches.id))
      .limit(limit + 1);
    return { rows: rows.slice(0, limit), more: rows.length > limit };
  }

  /** The next `limit` samples in sha256 order after `after`, first seen up to `until`. */
  async samplesAfter(options: {
    after?: string | null;
    until: Date;
    /** The retention cutoff: a sample last sighted before it has expired (served to no one, swept soon). */
    seenSince: Date;
    limit: number;
    /** Only samples whose latest scan matched this rule (their rule copy, GIN-indexed). */
    matchedRule?: string;
  }): Promise<BatchSample[]> {
    return this.database.db
      .select({
        sha256: samples.sha256,
        size: samples.size,
        kind: samples.kind,
        objectKey: samples.objectKey,
        fileType: samples.fileType,
      })
      .from(samples)
      .where(
        coveredSamples({
          after: options.after ?? null,
          until: options.until,
          seenSince: options.seenSince,
          ...(options.matchedRule === undefined ? {} : { rule: options.matchedRule }),
        }),
      )
      .orderBy(asc(samples.sha256))
      .limit(options.limit);
  }
}
