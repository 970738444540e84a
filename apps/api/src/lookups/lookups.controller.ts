import { Controller, HttpCode, Inject, Post, Res, UseGuards } from '@nestjs/common';
import type { Response } from 'express';
import type { Principal } from '#contracts';
import { ConsentGuard } from '../agents/consent.guard.js';
import { CurrentPrincipal, Roles } from '../auth/auth.js';
import { RateLimitGuard } from '../limits/rate-limit.guard.js';
import { LookupsService } from './lookups.service.js';
import { JsonBody } from '../http/validation.js';

@Controller('v1/lookups')
export class LookupsController {
  constructor(@Inject(LookupsService) private readonly lookups: LookupsService) {}

  /**
   * `{items: [{sha256, size?, kind?}]}` (up to 1,000) → one answer per item, in order. A lookup records a
   * sighting, so it needs consent like an upload; it is never held back by the scan backlog. The answer
   * (a `LookupResponse`) comes as JSON text written by the service, not as objects Express stringifies.
   */
  @Post()
  @HttpCode(200)
  @Roles('agent')
  @UseGuards(RateLimitGuard, ConsentGuard)
  async lookup(
    @JsonBody() body: unknown,
    @CurrentPrincipal() principal: Principal,
    @Res() res: Response,
  ): Promise<void> {
    const json = await this.lookups.lookupJson(body, principal);
    res.status(200).type('json').send(json);
  }
}
