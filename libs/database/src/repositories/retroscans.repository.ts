import { and, asc, eq, inArray, lt, sql } from '../drizzle.js';
import type { Database, Executor } from '../database.js';
import { retroscans, samples, scans } from '../schema.js';
import { coveredSamples } from './retrohunts.repository.js';

/**
 * `running` while its batches queue the scans, `checking` from its last batch until every sample it covers
 * has its scan, then `done`; `superseded` once another version is active.
 */
export type RetroscanStatus = 'running' | 'checking' | 'done' | 'superseded';

/** Statuses of a retro-scan that is not over: its chain (batches, then check) goes on. */
const UNFINISHED = ['running', 'checking'] as const;

/** A sample a retro-scan covers, and whether it has its scan yet (see {@link RetroscansRepository.checkBatch}). */
export interface CoveredSample {
  sha256: string;
  scanned: boolean;
}

/** A retro-scan as far as its batches got (see the `retroscans` table). */
export interface RetroscanRecord {
  /** Its name, as its jobs are named (retroscanKey in libs/queue). */
  key: string;
  rulesetId: string;
  until: Date;
  rule: string | null;
  rulesAsOf: Date | null;
  /**
   * Running: the last sample whose scan a batch queued (null before the first batch). Checking and done:
   * the check's frontier, every covered sample up to it having its scan (null before the first one).
   */
  cursor: string | null;
  status: RetroscanStatus;
  progressedAt: Date;
}

const columns = {
  key: retroscans.key,
  rulesetId: retroscans.rulesetId,
  until: retroscans.until,
  rule: retroscans.rule,
  rulesAsOf: retroscans.rulesAsOf,
  cursor: retroscans.cursor,
  status: retroscans.status,
  progressedAt: retroscans.progressedAt,
};

/**
 * Retro-scans' progress, so that a chain of batch jobs whose next job Redis lost can be put back where it
 * was: the jobs themselves carry everything else.
 */
export class RetroscansRepository {
  constructor(private readonly database: Database) {}

  /**
   * A running retro-scan; nothing when one of that key exists (the same activation's, already recorded).
   * `cursor` for a chain older than the table, recorded by the first of its batches to run.
   */
  async create(
    input: { key: string; rulesetId: string; until: Date; rule?: string; cursor?: string },
    executor: Executor = this.database.db,
  ): Promise<void> {
    await executor
      .insert(retroscans)
      .values({
        key: input.key,
        rulesetId: input.rulesetId,
        until: input.until,
        rule: input.rule ?? null,
        cursor: input.cursor ?? null,
      })
      .onConflictDoNothing();
  }

  async find(key: string): Promise<RetroscanRecord | null> {
    const [row] = await this.database.db.select(columns).from(retroscans).where(eq(retroscans.key, key));
    return row ?? null;
  }

  /**
   * Records that the batch starting after `from` queued its scans up to `to` (the new cursor); with the `last`
   * batch the retro-scan goes on `checking` from the start (cursor null): its scans are queued, not yet run.
   * Only while it runs and its cursor is still `from`: false when another run of the same batch was recorded
   * first (that run queues what comes next), or it has ended.
   */
  async advance(
    key: string,
    batch: { from: string | null; to: string | null; rulesAsOf: Date; last: boolean },
  ): Promise<boolean> {
    const rows = await this.database.db
      .update(retroscans)
      .set({
        cursor: batch.last ? null : batch.to,
        rulesAsOf: sql`coalesce(${retroscans.rulesAsOf}, ${batch.rulesAsOf.toISOString()}::timestamptz)`,
        progressedAt: sql`now()`,
        ...(batch.last ? { status: 'checking' as const } : {}),
      })
      .where(
        and(
          eq(retroscans.key, key),
          eq(retroscans.status, 'running'),
          sql`${retroscans.cursor} is not distinct from ${batch.from}`,
        ),
      )
      .returning({ key: retroscans.key });
    return rows.length > 0;
  }

  /**
   * The next `limit` samples (sha256 order) after `after` that the retro-scan covers, by its batches' filters
   * (first seen up to `until`, sighted since the retention cutoff, the latest scan matching `rule` when set),
   * each with whether it has its scan: one under the retro-scan's ruleset started at its rules instant or
   * later, whatever its status (a scan failed for good is settled too: it would fail again). By the primary
   * key and scans_sample_idx.
   */
  async checkBatch(options: {
    rulesetId: string;
    rulesAsOf: Date;
    after: string | null;
    until: Date;
    seenSince: Date;
    limit: number;
    rule?: string;
  }): Promise<CoveredSample[]> {
    return this.database.db
      .select({
        sha256: samples.sha256,
        scanned: sql<boolean>`exists (
          select 1 from ${scans}
          where ${scans.sampleSha256} = ${samples.sha256}
            and ${scans.rulesetId} = ${options.rulesetId}
            and ${scans.startedAt} >= ${options.rulesAsOf.toISOString()}::timestamptz
        )`,
      })
      .from(samples)
      .where(coveredSamples(options))
      .orderBy(asc(samples.sha256))
      .limit(options.limit);
  }

  /**
   * Records a step of the check: the frontier moves from `from` to `to` (the same when it stays), and with
   * `done` the retro-scan ends. Only while it is checking and its frontier is still `from`: false when it
   * has ended (superseded) or another run of the step moved the frontier first.
   */
  async checked(
    key: string,
    step: { from: string | null; to: string | null; done: boolean },
  ): Promise<boolean> {
    const rows = await this.database.db
      .update(retroscans)
      .set({
        cursor: step.to,
        progressedAt: sql`now()`,
        ...(step.done ? { status: 'done' as const, finishedAt: sql`now()` } : {}),
      })
      .where(
        and(
          eq(retroscans.key, key),
          eq(retroscans.status, 'checking'),
          sql`${retroscans.cursor} is not distinct from ${step.from}`,
        ),
      )
      .returning({ key: retroscans.key });
    return rows.length > 0;
  }

  /** Ends an unfinished retro-scan because another version was activated since (its retro-scan covers all). */
  async supersede(key: string): Promise<void> {
    await this.database.db
      .update(retroscans)
      .set({ status: 'superseded', finishedAt: sql`now()` })
      .where(and(eq(retroscans.key, key), inArray(retroscans.status, [...UNFINISHED])));
  }

  /**
   * Unfinished retro-scans (running or checking) whose chain has not moved since `olderThan`, the longest
   * quiet first: the candidates whose next batch or check job Redis may have lost. The table holds a row per
   * retro-scan ever asked for: few enough to read without the partial index of running ones.
   */
  async quietSince(olderThan: Date, limit: number): Promise<RetroscanRecord[]> {
    return this.database.db
      .select(columns)
      .from(retroscans)
      .where(and(inArray(retroscans.status, [...UNFINISHED]), lt(retroscans.progressedAt, olderThan)))
      .orderBy(asc(retroscans.progressedAt))
      .limit(limit);
  }
}
