import { Controller, Get, HttpCode, Inject, Param, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import type {
  Page,
  PreviewView,
  Principal,
  RescanQueued,
  SampleSummary,
  SampleView,
  ScanView,
  SightingView,
} from '#contracts';
import { CurrentPrincipal, Roles } from '../auth/auth.js';
import { sendStream } from '../http/stream.js';
import { SampleContentService } from './sample-content.service.js';
import { SamplesService } from './samples.service.js';

@Controller('v1/samples')
export class SamplesController {
  constructor(
    @Inject(SamplesService) private readonly samples: SamplesService,
    @Inject(SampleContentService) private readonly content: SampleContentService,
  ) {}

  /** Search with filters, keyset-paginated (`cursor` = the previous page's `nextCursor`). */
  @Get()
  @Roles('analyst', 'admin')
  search(@Query() query: unknown): Promise<Page<SampleSummary>> {
    return this.samples.search(query);
  }

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

  @Get(':sha256/submissions')
  @Roles('analyst', 'admin')
  sightings(@Param('sha256') sha256: string, @Query() query: unknown): Promise<Page<SightingView>> {
    return this.samples.sightings(sha256, query);
  }

  @Get(':sha256/scans')
  @Roles('analyst', 'admin')
  scans(@Param('sha256') sha256: string, @Query() query: unknown): Promise<Page<ScanView>> {
    return this.samples.scans(sha256, query);
  }

  @Get(':sha256/preview')
  @Roles('analyst', 'admin')
  preview(@Param('sha256') sha256: string, @Query() query: unknown): Promise<PreviewView> {
    return this.content.preview(sha256, query);
  }

  /**
   * An AES-256 ZIP (password DOWNLOAD_ZIP_PASSWORD), only ever as an attachment. HEAD (which Express routes
   * here) answers the same headers without reading, encrypting or auditing anything.
   */
  @Get(':sha256/download')
  @Roles('analyst', 'admin')
  async download(
    @Param('sha256') sha256: string,
    @CurrentPrincipal() principal: Principal,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const headers = (filename: string, length: number) =>
      res.set({
        'Content-Type': 'application/zip',
        'Content-Length': String(length),
        'Content-Disposition': `attachment; filename="${filename}"`,
        'X-Content-Type-Options': 'nosniff',
        'Cache-Control': 'no-store',
      });
    if (req.method === 'HEAD') {
      const { filename, length } = await this.content.downloadHead(sha256);
      headers(filename, length).end();
      return;
    }
    const { filename, length, body } = await this.content.download(sha256, principal);
    headers(filename, length);
    // The socket's finished chunks go back to the archive, which fills them again.
    await sendStream(res, body, (chunk) => body.release(chunk));
  }
}
