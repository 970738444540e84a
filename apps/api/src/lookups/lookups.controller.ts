import { Body, Controller, HttpCode, Inject, Post, UseGuards } from '@nestjs/common';
import type { LookupResponse, Principal } from '#contracts';
import { ConsentGuard } from '../agents/consent.guard.js';
import { CurrentPrincipal, Roles } from '../auth/auth.js';
import { RateLimitGuard } from '../limits/rate-limit.guard.js';
import { LookupsService } from './lookups.service.js';

@Controller('v1/lookups')
export class LookupsController {
  constructor(@Inject(LookupsService) private readonly lookups: LookupsService) {}

  /**
   * `{items: [{sha256, size?, kind?}]}` (up to 1,000) → one answer per item, in order. A lookup records a
   * sighting, so it needs consent like an upload; it is never held back by the scan backlog.
   */
  @Post()
  @HttpCode(200)
  @Roles('agent')
  @UseGuards(RateLimitGuard, ConsentGuard)
  lookup(@Body() body: unknown, @CurrentPrincipal() principal: Principal): Promise<LookupResponse> {
    return this.lookups.lookup(body, principal);
  }
}
