import { and, eq, isNull } from '../drizzle.js';
import type { Role } from '#contracts';
import type { Database } from '../database.js';
import { apiTokens } from '../schema.js';

export interface TokenRecord {
  id: string;
  name: string;
  role: Role;
  createdAt: Date;
}

export class TokensRepository {
  constructor(private readonly database: Database) {}

  async create(input: {
    name: string;
    role: Role;
    tokenHash: string;
    createdBy?: string;
  }): Promise<TokenRecord> {
    const [row] = await this.database.db
      .insert(apiTokens)
      .values({
        name: input.name,
        role: input.role,
        tokenHash: input.tokenHash,
        createdBy: input.createdBy ?? null,
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

  async findActiveByHash(tokenHash: string): Promise<TokenRecord | null> {
    const [row] = await this.database.db
      .select({
        id: apiTokens.id,
        name: apiTokens.name,
        role: apiTokens.role,
        createdAt: apiTokens.createdAt,
      })
      .from(apiTokens)
      .where(and(eq(apiTokens.tokenHash, tokenHash), isNull(apiTokens.revokedAt)))
      .limit(1);
    return row ?? null;
  }
}
