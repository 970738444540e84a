import { Controller, Get, HttpCode, Inject, Post, Query } from '@nestjs/common';
import type { MaintenanceQueued, Principal, StatsOverviewView, StatsSeriesView } from '#contracts';
import { CurrentPrincipal, Roles } from '../auth/auth.js';
import { StatsService } from './stats.service.js';

@Controller('v1/stats')
export class StatsController {
  constructor(@Inject(StatsService) private readonly stats: StatsService) {}

  @Get('overview')
  @Roles('analyst', 'admin')
  overview(@Query() query: unknown): Promise<StatsOverviewView> {
    return this.stats.overview(query);
  }

  /** `groupBy=kind|verdict|country|productVersion|rule`, `from`, `to` (UTC days), `interval=day`. */
  @Get('series')
  @Roles('analyst', 'admin')
  series(@Query() query: unknown): Promise<StatsSeriesView> {
    return this.stats.series(query);
  }
}

@Controller('v1/admin')
export class MaintenanceController {
  constructor(@Inject(StatsService) private readonly stats: StatsService) {}

  @Post('retention/sweep')
  @HttpCode(202)
  @Roles('admin')
  sweep(@CurrentPrincipal() principal: Principal): Promise<MaintenanceQueued> {
    return this.stats.sweepRetention(principal);
  }

  @Post('stats/rollup')
  @HttpCode(202)
  @Roles('admin')
  rollup(): Promise<MaintenanceQueued> {
    return this.stats.rollup();
  }
}
