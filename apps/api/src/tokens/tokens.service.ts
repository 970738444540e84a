import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { CONFIG, type Config } from '#config';
import { CreateTokenRequest, type Principal, type TokenCreated } from '#contracts';
import { AuditRepository, TokensRepository } from '#database';
import { hashToken, newToken } from '../auth/auth.js';
import { parseOrThrow } from '../http/validation.js';

@Injectable()
export class TokensService implements OnApplicationBootstrap {
  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(TokensRepository) private readonly tokens: TokensRepository,
    @Inject(AuditRepository) private readonly audit: AuditRepository,
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
}
