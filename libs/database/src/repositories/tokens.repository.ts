import { and, desc, eq, isNull, or, sql } from '../drizzle.js';
import type { Role } from '#contracts';
import type { Database, Executor } from '../database.js';
import { agents, apiTokens } from '../schema.js';

export interface TokenRecord {
  id: string;
  name: string;
  role: Role;
  createdAt: Date;
}

/** An active token as authentication sees it: with its agent's id and consent when it is an agent key. */
export interface ActiveToken extends TokenRecord {
  agentId: string | null;
  /** The agent's consent; null for people's tokens. */
  participating: boolean | null;
  /** The agent's pseudonym, country and product ("name version"); null for people's tokens. */
  agentPseudonym: string | null;
  country: string | null;
  productVersion: string | null;
}

/** A person's token row as listed (no hash). */
export interface PersonToken extends TokenRecord {
  createdBy: string | null;
  revokedAt: Date | null;
}

const PERSON_TOKEN = {
  id: apiTokens.id,
  name: apiTokens.name,
  role: apiTokens.role,
  createdAt: apiTokens.createdAt,
  createdBy: apiTokens.createdBy,
  revokedAt: apiTokens.revokedAt,
};

export class TokensRepository {
  constructor(private readonly database: Database) {}

  async create(
    input: {
      name: string;
      role: Role;
      tokenHash: string;
      createdBy?: string;
      /** Makes the token an enrolled agent's API key. */
      agentId?: string;
    },
    executor: Executor = this.database.db,
  ): Promise<TokenRecord> {
    const [row] = await executor
      .insert(apiTokens)
      .values({
        name: input.name,
        role: input.role,
        tokenHash: input.tokenHash,
        createdBy: input.createdBy ?? null,
        agentId: input.agentId ?? null,
      })
      .returning({
        id: apiTokens.id,
        name: apiTokens.name,
        role: apiTokens.role,
        createdAt: apiTokens.createdAt,
      });
    if (row === undefined) throw new Error('insert returned no row');
    return row;
  }

  /** Inserts the token unless a token with the same hash exists (idempotent start-up bootstrap). */
  async ensure(input: { name: string; role: Role; tokenHash: string }): Promise<void> {
    await this.database.db
      .insert(apiTokens)
      .values(input)
      .onConflictDoNothing({ target: apiTokens.tokenHash });
  }

  /** People's tokens (not agents' keys), newest first. */
  async listPeople(): Promise<PersonToken[]> {
    return this.database.db
      .select(PERSON_TOKEN)
      .from(apiTokens)
      .where(isNull(apiTokens.agentId))
      .orderBy(desc(apiTokens.createdAt), desc(apiTokens.id));
  }

  /**
   * Revokes a person's token (idempotent: a revoked one keeps its first revocation time). `agent-key` for
   * an agent's key, which is revoked with its agent; `last-admin` for the only unrevoked admin token,
   * whose revocation would leave nobody able to administer the service. Call inside a transaction.
   */
  async revokePerson(
    id: string,
    executor: Executor,
  ): Promise<{ token: PersonToken; newly: boolean } | 'not-found' | 'agent-key' | 'last-admin'> {
    // The target and every unrevoked admin token, locked in one statement in id order: revocations of two
    // admins at once wait for each other instead of deadlocking, and cannot both remove the last admins.
    const locked = await executor
      .select({ ...PERSON_TOKEN, agentId: apiTokens.agentId })
      .from(apiTokens)
      .where(
        or(
          eq(apiTokens.id, id),
          and(eq(apiTokens.role, 'admin'), isNull(apiTokens.revokedAt), isNull(apiTokens.agentId)),
        ),
      )
      .orderBy(apiTokens.id)
      .for('update');
    const target = locked.find((t) => t.id === id);
    if (target === undefined) return 'not-found';
    const { agentId, ...token } = target;
    if (agentId !== null) return 'agent-key';
    if (token.revokedAt !== null) return { token, newly: false };
    // Every other row locked is an unrevoked admin token.
    if (token.role === 'admin' && locked.every((t) => t.id === id)) return 'last-admin';
    const [revoked] = await executor
      .update(apiTokens)
      .set({ revokedAt: sql`now()` })
      .where(eq(apiTokens.id, id))
      .returning(PERSON_TOKEN);
    if (revoked === undefined) throw new Error('update returned no row');
    return { token: revoked, newly: true };
  }

  /**
   * The unrevoked token with this hash, joined with its agent (one query per request): a revoked agent's
   * key is refused even if its own row were left unrevoked.
   */
  async findActiveByHash(tokenHash: string): Promise<ActiveToken | null> {
    const [row] = await this.database.db
      .select({
        id: apiTokens.id,
        name: apiTokens.name,
        role: apiTokens.role,
        createdAt: apiTokens.createdAt,
        agentId: apiTokens.agentId,
        participating: agents.participating,
        agentPseudonym: agents.pseudonym,
        country: agents.country,
        productVersion: sql<string | null>`${agents.productName} || ' ' || ${agents.productVersion}`,
        agentRevokedAt: agents.revokedAt,
      })
      .from(apiTokens)
      .leftJoin(agents, eq(agents.id, apiTokens.agentId))
      .where(and(eq(apiTokens.tokenHash, tokenHash), isNull(apiTokens.revokedAt)))
      .limit(1);
    if (row === undefined || row.agentRevokedAt !== null) return null;
    const { agentRevokedAt: _r, ...token } = row;
    return token;
  }
}
