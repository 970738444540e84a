import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import { Database } from '#database';
import { QueueProducer } from '#queue';
import { OBJECT_STORE, type ObjectStore } from '#storage';
import { Public } from '../auth/auth.js';

type Check = 'ok' | 'failed';

@Controller('health')
export class HealthController {
  constructor(
    @Inject(Database) private readonly database: Database,
    @Inject(QueueProducer) private readonly queue: QueueProducer,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
  ) {}

  @Get('live')
  @Public()
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** 200 when PostgreSQL, Redis and storage answer; 503 naming what failed otherwise. */
  @Get('ready')
  @Public()
  async ready(
    @Res({ passthrough: true }) res: Response,
  ): Promise<{ status: Check; checks: Record<string, Check> }> {
    const probe = (p: Promise<void>): Promise<Check> =>
      Promise.race([
        p.then((): Check => 'ok'),
        new Promise<Check>((resolve) => setTimeout(() => resolve('failed'), 2_000).unref()),
      ]).catch((): Check => 'failed');
    const [database, redis, storage] = await Promise.all([
      probe(this.database.ping()),
      probe(this.queue.ping()),
      probe(this.store.ping()),
    ]);
    const checks = { database, redis, storage };
    const status: Check = Object.values(checks).every((c) => c === 'ok') ? 'ok' : 'failed';
    if (status !== 'ok') res.status(503);
    return { status, checks };
  }
}
