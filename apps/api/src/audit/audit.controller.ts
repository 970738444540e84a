import { Controller, Get, Inject, Query } from '@nestjs/common';
import type { AuditView, Page } from '#contracts';
import { Roles } from '../auth/auth.js';
import { AuditService } from './audit.service.js';

@Controller('v1/audit')
export class AuditController {
  constructor(@Inject(AuditService) private readonly audit: AuditService) {}

  /** Filters `actor` (token id or name), `action`, `from`, `to`; newest first, cursor-paginated. */
  @Get()
  @Roles('admin')
  list(@Query() query: unknown): Promise<Page<AuditView>> {
    return this.audit.list(query);
  }
}
