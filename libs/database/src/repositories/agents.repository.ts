import type { Database, Executor } from '../database.js';
import { and, asc, desc, eq, gt, isNull, sql } from '../drizzle.js';
import { agents, apiTokens, enrollmentTokens } from '../schema.js';

export interface EnrollmentTokenRecord {
  id: string;
  name: string | null;
  expiresAt: Date;
  maxUses: number;
}

/** An enrollment token as the admin's list shows it. */
export interface ListedEnrollmentToken extends EnrollmentTokenRecord {
  uses: number;
  createdAt: Date;
  createdBy: string | null;
  revokedAt: Date | null;
}

/** Why an enrollment token was not accepted. */
export type EnrollmentRefusal = 'unknown' | 'expired' | 'used-up' | 'revoked';

export interface AgentRecord {
  id: string;
  /** Null only for an agent enrolled before migration 0009 until start-up has converted it. */
  pseudonym: string | null;
  productName: string;
  productVersion: string;
  osFamily: string;
  osVersion: string;
  country: string | null;
  enrolledAt: Date;
  revokedAt: Date | null;
  participating: boolean;
  consentStatementVersion: string | null;
  consentChangedAt: Date | null;
  consentRevokedAt: Date | null;
}

export interface NewAgent {
  id: string;
  pseudonym: string;
  productName: string;
  productVersion: string;
  osFamily: string;
  osVersion: string;
  country: string | null;
  enrollmentTokenId: string;
}

export interface ConsentChange {
  agentId: string;
  participating: boolean;
  statementVersion: string | null;
  changedAt: Date;
  /** What it was before this change. */
  previous: { participating: boolean; statementVersion: string | null };
}

const agentColumns = {
  id: agents.id,
  pseudonym: agents.pseudonym,
  productName: agents.productName,
  productVersion: agents.productVersion,
  osFamily: agents.osFamily,
  osVersion: agents.osVersion,
  country: agents.country,
  enrolledAt: agents.enrolledAt,
  revokedAt: agents.revokedAt,
  participating: agents.participating,
  consentStatementVersion: agents.consentStatementVersion,
  consentChangedAt: agents.consentChangedAt,
  consentRevokedAt: agents.consentRevokedAt,
};

/** Enrollment tokens, agents and their consent. */
export class AgentsRepository {
  constructor(private readonly database: Database) {}

  async createEnrollmentToken(
    input: { name: string | null; tokenHash: string; expiresAt: Date; maxUses: number; createdBy: string },
    executor: Executor = this.database.db,
  ): Promise<EnrollmentTokenRecord> {
    const [row] = await executor.insert(enrollmentTokens).values(input).returning({
      id: enrollmentTokens.id,
      name: enrollmentTokens.name,
      expiresAt: enrollmentTokens.expiresAt,
      maxUses: enrollmentTokens.maxUses,
    });
    if (row === undefined) throw new Error('insert returned no row');
    return row;
  }

  /** Every enrollment token, newest first, with its uses (never the token: only its hash is stored). */
  async listEnrollmentTokens(): Promise<ListedEnrollmentToken[]> {
    return this.database.db
      .select({
        id: enrollmentTokens.id,
        name: enrollmentTokens.name,
        expiresAt: enrollmentTokens.expiresAt,
        maxUses: enrollmentTokens.maxUses,
        uses: enrollmentTokens.uses,
        createdAt: enrollmentTokens.createdAt,
        createdBy: enrollmentTokens.createdBy,
        revokedAt: enrollmentTokens.revokedAt,
      })
      .from(enrollmentTokens)
      .orderBy(desc(enrollmentTokens.createdAt), desc(enrollmentTokens.id));
  }

  /** Stops the token enrolling anyone else (agents already enrolled keep their keys); null when unknown. */
  async revokeEnrollmentToken(
    id: string,
    executor: Executor = this.database.db,
  ): Promise<(EnrollmentTokenRecord & { revokedAt: Date; uses: number; revokedNow: boolean }) | null> {
    const [row] = await executor
      .update(enrollmentTokens)
      .set({ revokedAt: sql`coalesce(${enrollmentTokens.revokedAt}, now())` })
      .where(eq(enrollmentTokens.id, id))
      .returning({
        id: enrollmentTokens.id,
        name: enrollmentTokens.name,
        expiresAt: enrollmentTokens.expiresAt,
        maxUses: enrollmentTokens.maxUses,
        uses: enrollmentTokens.uses,
        revokedAt: sql<Date>`${enrollmentTokens.revokedAt}`.mapWith(enrollmentTokens.revokedAt),
        // Revoked by this statement (its transaction's time), not earlier: only that is worth an audit record.
        revokedNow: sql<boolean>`${enrollmentTokens.revokedAt} = now()`,
      });
    return row ?? null;
  }

  /**
   * Takes one use of the token, atomically (one UPDATE, so concurrent enrollments can never exceed the
   * limit). Returns its id, or why it was refused.
   */
  async consumeEnrollmentToken(
    tokenHash: string,
    executor: Executor = this.database.db,
  ): Promise<{ id: string } | { refused: EnrollmentRefusal }> {
    const [taken] = await executor
      .update(enrollmentTokens)
      .set({ uses: sql`${enrollmentTokens.uses} + 1` })
      .where(
        and(
          eq(enrollmentTokens.tokenHash, tokenHash),
          isNull(enrollmentTokens.revokedAt),
          gt(enrollmentTokens.expiresAt, sql`now()`),
          sql`${enrollmentTokens.uses} < ${enrollmentTokens.maxUses}`,
        ),
      )
      .returning({ id: enrollmentTokens.id });
    if (taken !== undefined) return taken;
    const [row] = await executor
      .select({
        revoked: sql<boolean>`${enrollmentTokens.revokedAt} is not null`,
        expired: sql<boolean>`${enrollmentTokens.expiresAt} <= now()`,
      })
      .from(enrollmentTokens)
      .where(eq(enrollmentTokens.tokenHash, tokenHash))
      .limit(1);
    if (row === undefined) return { refused: 'unknown' };
    return { refused: row.revoked ? 'revoked' : row.expired ? 'expired' : 'used-up' };
  }

  async createAgent(input: NewAgent, executor: Executor = this.database.db): Promise<AgentRecord> {
    const [row] = await executor.insert(agents).values(input).returning(agentColumns);
    if (row === undefined) throw new Error('insert returned no row');
    return row;
  }

  /** Agents in id order, after the given id (keyset pagination). */
  async list(options: { limit: number; after?: string }): Promise<AgentRecord[]> {
    return this.database.db
      .select(agentColumns)
      .from(agents)
      .where(options.after === undefined ? undefined : gt(agents.id, options.after))
      .orderBy(asc(agents.id))
      .limit(options.limit);
  }

  async findById(id: string, executor: Executor = this.database.db): Promise<AgentRecord | null> {
    const [row] = await executor.select(agentColumns).from(agents).where(eq(agents.id, id)).limit(1);
    return row ?? null;
  }

  /**
   * Marks the agent revoked and revokes its API keys in one statement, so its key stops working with the
   * next request. Returns null for an unknown agent; revoking twice keeps the first time.
   */
  /**
   * Revokes the agent and its keys (idempotent: the first revocation's time stays); `revokedNow` says
   * whether this call revoked it, so a repeat writes no second audit record.
   */
  async revoke(
    id: string,
    executor: Executor = this.database.db,
  ): Promise<{ agent: AgentRecord; revokedNow: boolean } | null> {
    const result = await executor.execute<{ revoked_now: boolean }>(
      sql`with keys as (
            update ${apiTokens} set revoked_at = coalesce(${apiTokens.revokedAt}, now())
            where ${apiTokens.agentId} = ${id}
          )
          update ${agents} set revoked_at = coalesce(${agents.revokedAt}, now()) where ${agents.id} = ${id}
          returning ${agents.revokedAt} = now() as revoked_now`,
    );
    const agent = await this.findById(id, executor);
    if (agent === null) return null;
    return { agent, revokedNow: result.rows[0]?.revoked_now === true };
  }

  /**
   * Records the agent's consent. A withdrawal stamps `consent_revoked_at`, which the consent purge reads.
   * Locks the row so the `previous` values reported are the ones replaced. The stamps are the clock once the
   * lock is held, not the transaction's start (`now()`): an upload's write holds the row `for share`, and
   * what it received (at its own start, which may come after this transaction's) must fall before the
   * stamp, where the purge looks.
   */
  async setConsent(
    /** A null statement version keeps the one the agent agreed to (an admin's withdrawal for it). */
    input: { agentId: string; participating: boolean; statementVersion: string | null },
    executor: Executor = this.database.db,
  ): Promise<ConsentChange | null> {
    const result = await executor.execute<{
      changed_at: Date | string;
      prev_participating: boolean;
      prev_statement_version: string | null;
    }>(
      sql`with prev as (
            select ${agents.id} as id, ${agents.participating} as participating,
                   ${agents.consentStatementVersion} as statement_version
            from ${agents} where ${agents.id} = ${input.agentId} for update
          )
          update ${agents} a set
            participating = ${input.participating},
            consent_statement_version = coalesce(${input.statementVersion}, prev.statement_version),
            consent_changed_at = clock_timestamp(),
            consent_revoked_at = case when ${input.participating} then a.consent_revoked_at else clock_timestamp() end
          from prev where a.id = prev.id
          returning a.consent_changed_at as changed_at, prev.participating as prev_participating,
                    prev.statement_version as prev_statement_version`,
    );
    const row = result.rows[0];
    if (row === undefined) return null;
    return {
      agentId: input.agentId,
      participating: input.participating,
      statementVersion: input.statementVersion ?? row.prev_statement_version,
      changedAt: new Date(row.changed_at),
      previous: { participating: row.prev_participating, statementVersion: row.prev_statement_version },
    };
  }
}
