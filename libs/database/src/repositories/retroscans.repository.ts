import { and, asc, eq, lt, sql } from '../drizzle.js';
import type { Database, Executor } from '../database.js';
import { retroscans } from '../schema.js';

export type RetroscanStatus = 'running' | 'done' | 'superseded';

/** A retro-scan as far as its batches got (see the `retroscans` table). */
export interface RetroscanRecord {
  /** Its name, as its jobs are named (retroscanKey in libs/queue). */
  key: string;
  rulesetId: string;
  until: Date;
  rule: string | null;
  rulesAsOf: Date | null;
  /** The last sample whose scan a batch queued; null before the first batch. */
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
   * Records that the batch starting after `from` queued its scans up to `to` (the new cursor), and ends the
   * retro-scan as `done` with the `last` batch. Only while it runs and its cursor is still `from`: false when
   * another run of the same batch was recorded first (that run queues the next batch), or it has ended.
   */
  async advance(
    key: string,
    batch: { from: string | null; to: string | null; rulesAsOf: Date; last: boolean },
  ): Promise<boolean> {
    const rows = await this.database.db
      .update(retroscans)
      .set({
        cursor: batch.to,
        rulesAsOf: sql`coalesce(${retroscans.rulesAsOf}, ${batch.rulesAsOf.toISOString()}::timestamptz)`,
        progressedAt: sql`now()`,
        ...(batch.last ? { status: 'done' as const, finishedAt: sql`now()` } : {}),
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

  /** Ends a running retro-scan because another version was activated since (its retro-scan covers all). */
  async supersede(key: string): Promise<void> {
    await this.database.db
      .update(retroscans)
      .set({ status: 'superseded', finishedAt: sql`now()` })
      .where(and(eq(retroscans.key, key), eq(retroscans.status, 'running')));
  }

  /**
   * Running retro-scans whose batches queued nothing since `olderThan`, the longest quiet first: the
   * candidates whose next batch job Redis may have lost. By the partial index of running ones.
   */
  async quietSince(olderThan: Date, limit: number): Promise<RetroscanRecord[]> {
    return this.database.db
      .select(columns)
      .from(retroscans)
      .where(and(eq(retroscans.status, 'running'), lt(retroscans.progressedAt, olderThan)))
      .orderBy(asc(retroscans.progressedAt))
      .limit(limit);
  }
}
