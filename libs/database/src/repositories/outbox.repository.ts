import { asc, eq, lt, sql } from '../drizzle.js';
import type { Database, Executor } from '../database.js';
import { outbox } from '../schema.js';

export interface OutboxJob {
  queue: string;
  name: string;
  jobId: string;
  payload: Record<string, unknown>;
}

export interface OutboxRecord extends OutboxJob {
  id: number;
  createdAt: Date;
  attempts: number;
}

export class OutboxRepository {
  constructor(private readonly database: Database) {}

  async add(job: OutboxJob, executor: Executor = this.database.db): Promise<number> {
    const [row] = await executor.insert(outbox).values(job).returning({ id: outbox.id });
    if (row === undefined) throw new Error('insert returned no row');
    return row.id;
  }

  /** Called once the job is in Redis. */
  async remove(id: number): Promise<void> {
    await this.database.db.delete(outbox).where(eq(outbox.id, id));
  }

  async recordFailure(id: number, error: string): Promise<void> {
    await this.database.db
      .update(outbox)
      .set({ attempts: sql`${outbox.attempts} + 1`, lastError: error.slice(0, 2000) })
      .where(eq(outbox.id, id));
  }

  /** Oldest rows first, only those older than `olderThan` (fresh rows belong to their producer). */
  async pending(olderThan: Date, limit: number): Promise<OutboxRecord[]> {
    return this.database.db
      .select({
        id: outbox.id,
        queue: outbox.queue,
        name: outbox.name,
        jobId: outbox.jobId,
        payload: outbox.payload,
        createdAt: outbox.createdAt,
        attempts: outbox.attempts,
      })
      .from(outbox)
      .where(lt(outbox.createdAt, olderThan))
      .orderBy(asc(outbox.id))
      .limit(limit);
  }
}
