import { Controller, Get, HttpCode, Inject, Param, Post } from '@nestjs/common';
import type { Principal, RescanQueued, SampleView } from '#contracts';
import { CurrentPrincipal, Roles } from '../auth/auth.js';
import { SamplesService } from './samples.service.js';

@Controller('v1/samples')
export class SamplesController {
  constructor(@Inject(SamplesService) private readonly samples: SamplesService) {}

  @Get(':sha256')
  @Roles('analyst', 'admin')
  find(@Param('sha256') sha256: string): Promise<SampleView> {
    return this.samples.find(sha256);
  }

  /** Scans the sample again with the active ruleset: 202 with the job id. */
  @Post(':sha256/rescan')
  @HttpCode(202)
  @Roles('analyst', 'admin')
  rescan(@Param('sha256') sha256: string, @CurrentPrincipal() principal: Principal): Promise<RescanQueued> {
    return this.samples.rescan(sha256, principal);
  }
}
