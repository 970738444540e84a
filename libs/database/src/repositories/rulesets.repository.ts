import { createHash } from 'node:crypto';
import { desc, eq, sql } from '../drizzle.js';
import type { Database, Executor } from '../database.js';
import { rulesetRules, rulesets, type StoredDiagnostic } from '../schema.js';

export type RulesetStatus = 'staging' | 'active' | 'disabled';
export type RuleState = 'enabled' | 'disabled' | 'noisy';

export interface RulesetRecord {
  id: string;
  name: string;
  version: number;
  source: string;
  sourceSha256: string;
  ruleCount: number;
}

/** A version as listed: everything but its source. */
export interface RulesetSummary {
  id: string;
  name: string;
  version: number;
  status: RulesetStatus;
  sourceSha256: string;
  ruleCount: number;
  quarantined: string[];
  createdAt: Date;
  createdBy: string | null;
  createdByName: string | null;
  activatedAt: Date | null;
  activatedBy: string | null;
  activatedByName: string | null;
}

export interface RulesetDetail extends RulesetSummary {
  source: string;
  diagnostics: StoredDiagnostic[];
  /**
   * Rules whose state is not the default `enabled`, or was changed back to it, with who set it last and when
   * (the token's name as it is now).
   */
  ruleStates: Record<string, { state: RuleState; by: { id: string; name: string | null } | null; at: Date }>;
}

export interface CreateRulesetInput {
  name: string;
  source: string;
  ruleCount: number;
  diagnostics: StoredDiagnostic[];
  quarantined: string[];
  createdBy: string | null;
}

const columns = {
  id: rulesets.id,
  name: rulesets.name,
  version: rulesets.version,
  source: rulesets.source,
  sourceSha256: rulesets.sourceSha256,
  ruleCount: rulesets.ruleCount,
};

const summaryColumns = {
  id: rulesets.id,
  name: rulesets.name,
  version: rulesets.version,
  status: rulesets.status,
  sourceSha256: rulesets.sourceSha256,
  ruleCount: rulesets.ruleCount,
  quarantined: rulesets.quarantined,
  createdAt: rulesets.createdAt,
  createdBy: rulesets.createdBy,
  // Qualified by hand: drizzle renders a bare column name here, and api_tokens has a created_by of its own.
  createdByName: sql<string | null>`(select t.name from api_tokens t where t.id = "rulesets"."created_by")`,
  activatedAt: rulesets.activatedAt,
  activatedBy: rulesets.activatedBy,
  activatedByName: sql<
    string | null
  >`(select t.name from api_tokens t where t.id = "rulesets"."activated_by")`,
};

// Same key as activateIfNone: creating the first version and activating are serialised together.
const ACTIVATION_LOCK_KEY = 0x5_9ec1_4f;

const sourceSha256 = (source: string): string => createHash('sha256').update(source).digest('hex');

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

  /**
   * The active version's id only (no source), and PostgreSQL's clock read by the same statement: whatever
   * committed before `at` (an activation, a rule-state change) is visible to any read that starts later.
   */
  async activeId(): Promise<{ id: string | null; at: Date }> {
    const result = await this.database.db.execute<{ id: string | null; at: Date | string }>(
      sql`select (select ${rulesets.id} from ${rulesets} where ${rulesets.status} = 'active' limit 1) as id,
                 now() as at`,
    );
    const row = result.rows[0];
    if (row === undefined) throw new Error('select returned no row');
    return { id: row.id, at: new Date(row.at) };
  }

  /**
   * PostgreSQL's clock (now(): in a transaction, when it began): what orders rule changes and the reads of
   * them across processes.
   */
  async clock(executor: Executor = this.database.db): Promise<Date> {
    const result = await executor.execute<{ at: Date | string }>(sql`select now() as at`);
    const at = result.rows[0]?.at;
    if (at === undefined) throw new Error('select returned no row');
    return new Date(at);
  }

  async findById(id: string): Promise<RulesetRecord | null> {
    const [row] = await this.database.db.select(columns).from(rulesets).where(eq(rulesets.id, id)).limit(1);
    return row ?? null;
  }

  /** Newest first. */
  async list(limit: number): Promise<RulesetSummary[]> {
    return this.database.db
      .select(summaryColumns)
      .from(rulesets)
      .orderBy(desc(rulesets.createdAt), desc(rulesets.version))
      .limit(limit);
  }

  async findDetail(id: string, executor: Executor = this.database.db): Promise<RulesetDetail | null> {
    const [row] = await executor
      .select({ ...summaryColumns, source: rulesets.source, diagnostics: rulesets.diagnostics })
      .from(rulesets)
      .where(eq(rulesets.id, id))
      .limit(1);
    if (row === undefined) return null;
    const rules = await executor
      .select({
        rule: rulesetRules.rule,
        state: rulesetRules.state,
        at: rulesetRules.updatedAt,
        by: rulesetRules.updatedBy,
        byName: sql<string | null>`(select t.name from api_tokens t where t.id = ${rulesetRules.updatedBy})`,
      })
      .from(rulesetRules)
      .where(eq(rulesetRules.rulesetId, id));
    return {
      ...row,
      ruleStates: Object.fromEntries(
        rules.map((r) => [
          r.rule,
          { state: r.state, by: r.by === null ? null : { id: r.by, name: r.byName }, at: r.at },
        ]),
      ),
    };
  }

  /** States set on single rules of a version (rules without one are enabled). */
  async ruleStates(
    rulesetId: string,
    executor: Executor = this.database.db,
  ): Promise<Record<string, RuleState>> {
    const rows = await executor
      .select({ rule: rulesetRules.rule, state: rulesetRules.state })
      .from(rulesetRules)
      .where(eq(rulesetRules.rulesetId, rulesetId));
    return Object.fromEntries(rows.map((r) => [r.rule, r.state]));
  }

  /** Inserts version N+1 of `input.name` in `staging`; versions of one name are numbered under a lock. */
  async create(input: CreateRulesetInput, executor: Executor): Promise<RulesetSummary> {
    await executor.execute(sql`select pg_advisory_xact_lock(hashtext(${`ruleset:${input.name}`}))`);
    const [{ next } = { next: 1 }] = await executor
      .select({ next: sql<number>`coalesce(max(${rulesets.version}), 0) + 1` })
      .from(rulesets)
      .where(eq(rulesets.name, input.name));
    const [row] = await executor
      .insert(rulesets)
      .values({
        name: input.name,
        version: Number(next),
        source: input.source,
        sourceSha256: sourceSha256(input.source),
        ruleCount: input.ruleCount,
        diagnostics: input.diagnostics,
        quarantined: input.quarantined,
        createdBy: input.createdBy,
        status: 'staging',
      })
      .returning(summaryColumns);
    if (row === undefined) throw new Error('insert returned no row');
    return row;
  }

  /**
   * Makes `id` the active version and the previously active one `disabled`. Returns the previous active
   * id (null if none, or `id` itself when it was already active), or undefined when `id` does not exist.
   */
  async activate(
    id: string,
    activatedBy: string | null,
    executor: Executor,
  ): Promise<{ previous: string | null } | undefined> {
    await executor.execute(sql`select pg_advisory_xact_lock(${ACTIVATION_LOCK_KEY})`);
    const [target] = await executor
      .select({ id: rulesets.id, status: rulesets.status })
      .from(rulesets)
      .where(eq(rulesets.id, id))
      .limit(1)
      .for('update');
    if (target === undefined) return undefined;
    if (target.status === 'active') return { previous: id };
    // The old one first: the partial unique index (one active row) is checked after each statement.
    const [previous] = await executor
      .update(rulesets)
      .set({ status: 'disabled' })
      .where(eq(rulesets.status, 'active'))
      .returning({ id: rulesets.id });
    await executor
      .update(rulesets)
      .set({ status: 'active', activatedAt: new Date(), activatedBy })
      .where(eq(rulesets.id, id));
    return { previous: previous?.id ?? null };
  }

  /**
   * A version's status, its row locked until the transaction ends: an activation (which locks the same
   * row) waits for the caller's change, or the caller sees the status the activation left.
   */
  async lockedStatus(id: string, executor: Executor): Promise<RulesetStatus | null> {
    const [row] = await executor
      .select({ status: rulesets.status })
      .from(rulesets)
      .where(eq(rulesets.id, id))
      .limit(1)
      .for('update');
    return row?.status ?? null;
  }

  /** Sets the state of one rule of a version. */
  async setRuleState(
    input: { rulesetId: string; rule: string; state: RuleState; updatedBy: string | null },
    executor: Executor,
  ): Promise<void> {
    await executor
      .insert(rulesetRules)
      .values({ ...input, updatedAt: new Date() })
      .onConflictDoUpdate({
        target: [rulesetRules.rulesetId, rulesetRules.rule],
        set: { state: input.state, updatedAt: new Date(), updatedBy: input.updatedBy },
      });
  }

  /**
   * Makes `source` the active ruleset when none is active yet (first start). Serialised with a transaction
   * advisory lock so that replicas starting together create exactly one.
   */
  async activateIfNone(input: { name: string; source: string; ruleCount: number }): Promise<RulesetRecord> {
    return this.database.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(${ACTIVATION_LOCK_KEY})`);
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
          sourceSha256: sourceSha256(input.source),
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
