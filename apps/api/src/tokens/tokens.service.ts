import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { CONFIG, type Config } from '#config';
import {
  CreateTokenRequest,
  type Principal,
  SpecimenError,
  type TokenCreated,
  type TokenView,
  UUID,
} from '#contracts';
import { AuditRepository, Database, type PersonToken, TokensRepository } from '#database';
import { hashToken, newToken } from '../auth/auth.js';
import { PrincipalsService } from '../auth/principals.service.js';
import { parseOrThrow } from '../http/validation.js';

@Injectable()
export class TokensService implements OnApplicationBootstrap {
  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(TokensRepository) private readonly tokens: TokensRepository,
    @Inject(AuditRepository) private readonly audit: AuditRepository,
    @Inject(Database) private readonly database: Database,
    @Inject(PrincipalsService) private readonly principals: PrincipalsService,
  ) {}

  /** SPECIMEN_ADMIN_TOKEN, when set, is made a valid admin token (idempotent across restarts and replicas). */
  async onApplicationBootstrap(): Promise<void> {
    const token = this.config.auth.adminToken;
    if (token !== undefined) {
      await this.tokens.ensure({ name: 'bootstrap-admin', role: 'admin', tokenHash: hashToken(token) });
    }
  }

  async create(body: unknown, principal: Principal): Promise<TokenCreated> {
    const request = parseOrThrow(CreateTokenRequest, body, 'body');
    const token = newToken();
    const record = await this.tokens.create({
      name: request.name,
      role: request.role,
      tokenHash: hashToken(token),
      createdBy: principal.tokenId,
    });
    await this.audit.append({
      actorId: principal.tokenId,
      actorName: principal.name,
      action: 'token.create',
      targetType: 'token',
      targetId: record.id,
      details: { name: record.name, role: record.role },
    });
    return { id: record.id, name: record.name, role: record.role, token };
  }

  /** People's tokens, newest first (agents' keys are listed with their agents). */
  async list(): Promise<{ items: TokenView[] }> {
    return { items: (await this.tokens.listPeople()).map(toTokenView) };
  }

  /**
   * Revokes a person's token with its audit record, then drops it from every replica's principal cache
   * before answering: once the admin sees `revokedAt`, no replica accepts the token. Revoking a revoked
   * token answers the same (its first revocation time) and writes no second record.
   */
  async revoke(id: string, principal: Principal): Promise<TokenView> {
    if (!UUID.test(id)) throw new SpecimenError('NOT_FOUND', 'no such token');
    const outcome = await this.database.transaction(async (tx) => {
      const result = await this.tokens.revokePerson(id, tx);
      if (typeof result !== 'string' && result.newly) {
        await this.audit.append(
          {
            actorId: principal.tokenId,
            actorName: principal.name,
            action: 'token.revoke',
            targetType: 'token',
            targetId: id,
            details: { name: result.token.name, role: result.token.role },
          },
          tx,
        );
      }
      return result;
    });
    if (outcome === 'not-found') throw new SpecimenError('NOT_FOUND', 'no such token');
    if (outcome === 'agent-key') {
      throw new SpecimenError(
        'CONFLICT',
        "this token is an agent's key: revoke the agent (POST /v1/agents/{id}/revoke)",
      );
    }
    if (outcome === 'last-admin') {
      throw new SpecimenError(
        'CONFLICT',
        'this is the last unrevoked admin token: create another admin token before revoking it',
      );
    }
    if (outcome.newly) await this.principals.changed({ tokenId: id });
    return toTokenView(outcome.token);
  }
}

function toTokenView(t: PersonToken): TokenView {
  return {
    id: t.id,
    name: t.name,
    role: t.role,
    createdAt: t.createdAt.toISOString(),
    createdBy: t.createdBy,
    revokedAt: t.revokedAt?.toISOString() ?? null,
  };
}
