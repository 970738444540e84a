import { and, eq, isNull, sql } from '../drizzle.js';
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
