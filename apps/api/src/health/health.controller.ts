import { Controller, Get, Inject, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { CONFIG, type Config } from '#config';
import { SpecimenError } from '#contracts';
import { Database } from '#database';
import { SpecimenMetrics, checkReadiness, metricsAuthorized, type Readiness } from '#observability';
import { QueueProducer } from '#queue';
import { OBJECT_STORE, type ObjectStore } from '#storage';
import { Public } from '../auth/auth.js';

@Controller()
export class HealthController {
  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(Database) private readonly database: Database,
    @Inject(QueueProducer) private readonly queue: QueueProducer,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    @Inject(SpecimenMetrics) private readonly metrics: SpecimenMetrics,
  ) {}

  @Get('health/live')
  @Public()
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** 200 when PostgreSQL, Redis and storage answer in time; 503 naming what failed otherwise. */
  @Get('health/ready')
  @Public()
  async ready(@Res({ passthrough: true }) res: Response): Promise<Readiness> {
    const readiness = await checkReadiness(
      {
        database: () => this.database.ping(),
        redis: () => this.queue.ping(),
        storage: () => this.store.ping(),
      },
      this.config.observability.healthCheckTimeoutMs,
    );
    if (readiness.status !== 'ok') res.status(503);
    return readiness;
  }

  /** Prometheus text; behind `METRICS_TOKEN` when it is set, else open on the bound host. */
  @Get('metrics')
  @Public()
  async metricsText(@Req() req: Request, @Res() res: Response): Promise<void> {
    if (!metricsAuthorized(req.headers.authorization, this.config.observability.metricsToken)) {
      throw new SpecimenError('UNAUTHENTICATED', 'the metrics token is required');
    }
    const text = await this.metrics.text();
    res.setHeader('Content-Type', this.metrics.contentType);
    res.setHeader('Cache-Control', 'no-store');
    res.send(text);
  }
}
