import { createHash } from 'node:crypto';
import { eq, sql } from '../drizzle.js';
import type { Database } from '../database.js';
import { rulesets } from '../schema.js';

export interface RulesetRecord {
  id: string;
  name: string;
  version: number;
  source: string;
  sourceSha256: string;
  ruleCount: number;
}

const columns = {
  id: rulesets.id,
  name: rulesets.name,
  version: rulesets.version,
  source: rulesets.source,
  sourceSha256: rulesets.sourceSha256,
  ruleCount: rulesets.ruleCount,
};

export class RulesetsRepository {
  constructor(private readonly database: Database) {}

  async findActive(): Promise<RulesetRecord | null> {
    const [row] = await this.database.db
      .select(columns)
      .from(rulesets)
      .where(eq(rulesets.status, 'active'))
      .limit(1);
    return row ?? null;
  }

  async findById(id: string): Promise<RulesetRecord | null> {
    const [row] = await this.database.db.select(columns).from(rulesets).where(eq(rulesets.id, id)).limit(1);
    return row ?? null;
  }

  /**
   * Makes `source` the active ruleset when none is active yet (first start). Serialised with a transaction
   * advisory lock so that replicas starting together create exactly one.
   */
  async activateIfNone(input: { name: string; source: string; ruleCount: number }): Promise<RulesetRecord> {
    return this.database.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(${0x5_9ec1_4f})`);
      const [active] = await tx.select(columns).from(rulesets).where(eq(rulesets.status, 'active')).limit(1);
      if (active !== undefined) return active;
      const [{ next } = { next: 1 }] = await tx
        .select({ next: sql<number>`coalesce(max(${rulesets.version}), 0) + 1` })
        .from(rulesets)
        .where(eq(rulesets.name, input.name));
      const [row] = await tx
        .insert(rulesets)
        .values({
          name: input.name,
          version: Number(next),
          source: input.source,
          sourceSha256: createHash('sha256').update(input.source).digest('hex'),
          ruleCount: input.ruleCount,
          status: 'active',
          activatedAt: new Date(),
        })
        .returning(columns);
      if (row === undefined) throw new Error('insert returned no row');
      return row;
    });
  }
}
