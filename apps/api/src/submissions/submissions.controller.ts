import {
  Controller,
  Get,
  HttpCode,
  Inject,
  Param,
  Post,
  Req,
  Res,
  UseGuards,
  UseInterceptors,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Principal, SubmissionCreated, SubmissionView } from '#contracts';
import { ConsentGuard } from '../agents/consent.guard.js';
import { CurrentPrincipal, Roles } from '../auth/auth.js';
import { BackpressureGuard } from '../limits/backpressure.guard.js';
import { RateLimitGuard } from '../limits/rate-limit.guard.js';
import { REPLAYED_HEADER, idempotencyKeyOf } from './idempotency.js';
import type { ReceivedFile } from './upload.engine.js';
import { UploadInterceptor } from './upload.interceptor.js';
import { SubmissionsService } from './submissions.service.js';

@Controller('v1/submissions')
export class SubmissionsController {
  constructor(@Inject(SubmissionsService) private readonly submissions: SubmissionsService) {}

  /**
   * multipart/form-data: a `metadata` JSON part, then a `file` part. 201 for a new sample, 200 for a known
   * one. Guards (rate, consent, backlog) all run before the interceptor reads a byte of the body. With an
   * `Idempotency-Key` already used by this agent, the first answer again (`Idempotent-Replayed: true`).
   */
  @Post()
  @HttpCode(201)
  @Roles('agent', 'admin')
  @UseGuards(RateLimitGuard, ConsentGuard, BackpressureGuard)
  @UseInterceptors(UploadInterceptor)
  async create(
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
    @CurrentPrincipal() principal: Principal,
  ): Promise<SubmissionCreated> {
    const { replayed, ...created } = await this.submissions.accept(
      req.file as (Express.Multer.File & ReceivedFile) | undefined,
      principal,
      idempotencyKeyOf(req),
    );
    if (created.duplicate) res.status(200);
    if (replayed) res.setHeader(REPLAYED_HEADER, 'true');
    return created;
  }

  @Get(':id')
  @Roles('agent', 'analyst', 'admin')
  find(@Param('id') id: string, @CurrentPrincipal() principal: Principal): Promise<SubmissionView> {
    return this.submissions.find(id, principal);
  }
}
