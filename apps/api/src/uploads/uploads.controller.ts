import {
  Controller,
  Delete,
  Head,
  HttpCode,
  Inject,
  Options,
  Param,
  Patch,
  Post,
  Req,
  Res,
  UseGuards,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import { CONFIG, type Config } from '#config';
import type { Principal } from '#contracts';
import { ConsentGuard } from '../agents/consent.guard.js';
import { CurrentPrincipal, Public, Roles } from '../auth/auth.js';
import { BackpressureGuard } from '../limits/backpressure.guard.js';
import { RateLimitGuard } from '../limits/rate-limit.guard.js';
import { CHECKSUM_ALGORITHMS, TUS_EXTENSIONS, assertTusResumable } from './tus.js';
import { type UploadState, UploadsService } from './uploads.service.js';

const header = (req: Request, name: string): string | undefined => {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
};

function stateHeaders(res: Response, { upload, submission }: UploadState): void {
  res.setHeader('Upload-Offset', String(upload.offset));
  res.setHeader('Upload-Expires', upload.expiresAt.toUTCString());
  res.setHeader('Cache-Control', 'no-store');
  if (submission !== null) {
    res.setHeader('Specimen-Submission-Id', submission.submissionId);
    res.setHeader('Specimen-Sha256', submission.sha256);
    res.setHeader('Specimen-Duplicate', String(submission.duplicate));
  }
}

/**
 * tus 1.0.0 (core, creation, checksum, termination, expiration). The same guards as the multipart path,
 * all before a byte of a PATCH body is read; Tus-Resumable and Tus-Version are set on every response by
 * the middleware in app.module.ts.
 */
@Controller('v1/uploads')
export class UploadsController {
  constructor(
    @Inject(UploadsService) private readonly uploads: UploadsService,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  @Options()
  @Public()
  @HttpCode(204)
  discover(@Res({ passthrough: true }) res: Response): void {
    res.setHeader('Tus-Extension', TUS_EXTENSIONS);
    res.setHeader('Tus-Max-Size', String(this.config.limits.resumableMaxBytes));
    res.setHeader('Tus-Checksum-Algorithm', CHECKSUM_ALGORITHMS.join(','));
  }

  /** Creation: `Upload-Length` and `Upload-Metadata` whose `metadata` key is the submission metadata. */
  @Post()
  @HttpCode(201)
  @Roles('agent', 'admin')
  @UseGuards(RateLimitGuard, ConsentGuard, BackpressureGuard)
  async create(
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
    @CurrentPrincipal() principal: Principal,
  ): Promise<void> {
    assertTusResumable(header(req, 'tus-resumable'));
    const upload = await this.uploads.create(principal, {
      length: header(req, 'upload-length'),
      metadata: header(req, 'upload-metadata'),
    });
    res.setHeader('Location', `/v1/uploads/${upload.id}`);
    res.setHeader('Upload-Expires', upload.expiresAt.toUTCString());
  }

  @Head(':id')
  @HttpCode(200)
  @Roles('agent', 'admin')
  @UseGuards(RateLimitGuard, ConsentGuard)
  async head(
    @Param('id') id: string,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
    @CurrentPrincipal() principal: Principal,
  ): Promise<void> {
    assertTusResumable(header(req, 'tus-resumable'));
    const state = await this.uploads.head(id, principal);
    stateHeaders(res, state);
    res.setHeader('Upload-Length', String(state.upload.length));
    if (state.upload.rawMetadata !== '') res.setHeader('Upload-Metadata', state.upload.rawMetadata);
  }

  @Patch(':id')
  @HttpCode(204)
  @Roles('agent', 'admin')
  @UseGuards(RateLimitGuard, ConsentGuard, BackpressureGuard)
  async patch(
    @Param('id') id: string,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
    @CurrentPrincipal() principal: Principal,
  ): Promise<void> {
    assertTusResumable(header(req, 'tus-resumable'));
    const state = await this.uploads.patch(
      id,
      principal,
      {
        contentType: header(req, 'content-type'),
        offset: header(req, 'upload-offset'),
        checksum: header(req, 'upload-checksum'),
      },
      req,
    );
    stateHeaders(res, state);
  }

  @Delete(':id')
  @HttpCode(204)
  @Roles('agent', 'admin')
  @UseGuards(RateLimitGuard, ConsentGuard)
  async terminate(
    @Param('id') id: string,
    @Req() req: Request,
    @CurrentPrincipal() principal: Principal,
  ): Promise<void> {
    assertTusResumable(header(req, 'tus-resumable'));
    await this.uploads.terminate(id, principal);
  }
}
