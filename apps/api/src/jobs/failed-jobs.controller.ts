import { Controller, Get, HttpCode, Inject, Post, Query } from '@nestjs/common';
import type { FailedJobView, Principal, ReplayedJobsView } from '#contracts';
import { CurrentPrincipal, Roles } from '../auth/auth.js';
import { FailedJobsService } from './failed-jobs.service.js';
import { JsonBody } from '../http/validation.js';

@Controller('v1/admin/jobs/failed')
export class FailedJobsController {
  constructor(@Inject(FailedJobsService) private readonly failed: FailedJobsService) {}

  /** `?queue=scan|retrohunt|maintenance&limit=`: most recently failed first. */
  @Get()
  @Roles('admin')
  list(@Query() query: unknown): Promise<FailedJobView[]> {
    return this.failed.list(query);
  }

  /** `{queue, ids?}`: replays the given failed jobs, or all of the queue's. */
  @Post('replay')
  @HttpCode(200)
  @Roles('admin')
  replay(@JsonBody() body: unknown, @CurrentPrincipal() principal: Principal): Promise<ReplayedJobsView> {
    return this.failed.replay(body, principal);
  }
}
