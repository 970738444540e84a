import { Controller, Get, Inject, Param } from '@nestjs/common';
import type { SampleView } from '#contracts';
import { Roles } from '../auth/auth.js';
import { SamplesService } from './samples.service.js';

@Controller('v1/samples')
export class SamplesController {
  constructor(@Inject(SamplesService) private readonly samples: SamplesService) {}

  @Get(':sha256')
  @Roles('analyst', 'admin')
  find(@Param('sha256') sha256: string): Promise<SampleView> {
    return this.samples.find(sha256);
  }
}
