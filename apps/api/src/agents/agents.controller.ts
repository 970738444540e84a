import { Controller, Get, HttpCode, Inject, Param, Post, Put, Query, Req } from '@nestjs/common';
import type { Request } from 'express';
import type {
  AgentPage,
  AgentView,
  ConsentView,
  Enrolled,
  EnrollmentTokenCreated,
  EnrollmentTokenView,
  Principal,
} from '#contracts';
import { CurrentPrincipal, Public, Roles } from '../auth/auth.js';
import { RateLimitGuard } from '../limits/rate-limit.guard.js';
import { AgentsService } from './agents.service.js';
import { JsonBody } from '../http/validation.js';

@Controller('v1/enrollment-tokens')
export class EnrollmentTokensController {
  constructor(@Inject(AgentsService) private readonly agents: AgentsService) {}

  /** `{name?, expiresAt | ttlSeconds, maxUses}` → the token, shown once. */
  @Post()
  @Roles('admin')
  create(
    @JsonBody() body: unknown,
    @CurrentPrincipal() principal: Principal,
  ): Promise<EnrollmentTokenCreated> {
    return this.agents.createEnrollmentToken(body, principal);
  }

  /** Every enrollment token, newest first, with its uses; never the token itself. */
  @Get()
  @Roles('admin')
  list(): Promise<{ items: EnrollmentTokenView[] }> {
    return this.agents.listEnrollmentTokens();
  }

  /** Agents already enrolled with it keep their keys; revoke those one by one. */
  @Post(':id/revoke')
  @Roles('admin')
  @HttpCode(200)
  revoke(
    @Param('id') id: string,
    @CurrentPrincipal() principal: Principal,
  ): Promise<{ id: string; revokedAt: string }> {
    return this.agents.revokeEnrollmentToken(id, principal);
  }
}

@Controller('v1/agents')
export class AgentsController {
  constructor(
    @Inject(AgentsService) private readonly agents: AgentsService,
    @Inject(RateLimitGuard) private readonly rateLimit: RateLimitGuard,
  ) {}

  /** No bearer token: the enrollment token in the body is the credential. */
  @Post('enroll')
  @Public()
  @HttpCode(201)
  enroll(@JsonBody() body: unknown): Promise<Enrolled> {
    return this.agents.enroll(body);
  }

  @Get()
  @Roles('admin')
  list(@Query() query: unknown): Promise<AgentPage> {
    return this.agents.list(query);
  }

  @Post(':id/revoke')
  @Roles('admin')
  @HttpCode(200)
  revoke(@Param('id') id: string, @CurrentPrincipal() principal: Principal): Promise<AgentView> {
    return this.agents.revoke(id, principal);
  }

  /** Withdraws the agent's consent for it (a revoked agent's key can no longer): the purge follows. */
  @Post(':id/withdraw')
  @Roles('admin')
  @HttpCode(200)
  withdraw(@Param('id') id: string, @CurrentPrincipal() principal: Principal): Promise<ConsentView> {
    return this.agents.withdrawFor(id, principal);
  }

  /**
   * Counted against the agent's rate limit like any call, but a participating agent's withdrawal is never
   * refused by it: leaving must always work. Over the limit, anything else is refused (a repeated
   * withdrawal included, so a loop of them cannot flood the audit log and the purge queue).
   */
  @Put('me/consent')
  @Roles('agent')
  async consent(
    @JsonBody() body: unknown,
    @CurrentPrincipal() principal: Principal,
    @Req() req: Request,
  ): Promise<ConsentView> {
    const overLimit = await this.rateLimit.check(req);
    return this.agents.setConsent(body, principal, overLimit);
  }
}
