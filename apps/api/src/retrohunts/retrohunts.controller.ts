import { Controller, Get, HttpCode, Inject, Param, Post, Query, UseInterceptors } from '@nestjs/common';
import type { Principal, RetrohuntSummaryView, RetrohuntView } from '#contracts';
import { CurrentPrincipal, Roles } from '../auth/auth.js';
import { LargeJsonBody } from '../http/large-json.js';
import { RetrohuntsService } from './retrohunts.service.js';
import { JsonBody } from '../http/validation.js';

@Controller('v1/retrohunts')
export class RetrohuntsController {
  constructor(@Inject(RetrohuntsService) private readonly retrohunts: RetrohuntsService) {}

  /** `{source}` → 201, queued over every retained sample. */
  @Post()
  @Roles('analyst', 'admin')
  @UseInterceptors(LargeJsonBody)
  create(@JsonBody() body: unknown, @CurrentPrincipal() principal: Principal): Promise<RetrohuntSummaryView> {
    return this.retrohunts.create(body, principal);
  }

  @Get()
  @Roles('analyst', 'admin')
  list(): Promise<RetrohuntSummaryView[]> {
    return this.retrohunts.list();
  }

  @Get(':id')
  @Roles('analyst', 'admin')
  find(@Param('id') id: string, @Query() query: unknown): Promise<RetrohuntView> {
    return this.retrohunts.find(id, query);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @Roles('analyst', 'admin')
  cancel(@Param('id') id: string, @CurrentPrincipal() principal: Principal): Promise<RetrohuntSummaryView> {
    return this.retrohunts.cancel(id, principal);
  }
}
