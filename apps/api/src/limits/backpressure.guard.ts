import { type CanActivate, Inject, Injectable, Logger } from '@nestjs/common';
import { CONFIG, type Config } from '#config';
import { QueueName, SpecimenError } from '#contracts';
import { QueueProducer, ConnectionErrorThrottle } from '#queue';

/**
 * Refuses byte uploads with 503 BACKPRESSURE while the scan backlog (waiting + delayed jobs) is above
 * SCAN_BACKLOG_MAX. The depth is read from Redis at most once per SCAN_BACKLOG_CACHE_MS per process, in
 * the background: a request never waits on Redis here, and while Redis is unreachable the last known
 * depth (none at first) stands, so uploads keep going to the outbox.
 */
@Injectable()
export class BackpressureGuard implements CanActivate {
  private readonly logger = new Logger(BackpressureGuard.name);
  /** Redis outages: one line a minute, not a stack per request. */
  private readonly redisDown = new ConnectionErrorThrottle();
  private depth: number | null = null;
  private readAt = 0;
  private refreshing: Promise<void> | null = null;

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(QueueProducer) private readonly queue: QueueProducer,
  ) {}

  async canActivate(): Promise<boolean> {
    const { scanBacklogMax, scanBacklogCacheMs, backpressureRetryAfterSeconds } = this.config.limits;
    if (Date.now() - this.readAt >= scanBacklogCacheMs) {
      // The first read of a process is awaited, so a fresh replica is protected from its first request.
      const refresh = this.refresh();
      if (this.depth === null) await refresh;
    }
    if (this.depth !== null && this.depth > scanBacklogMax) {
      throw new SpecimenError(
        'BACKPRESSURE',
        'the scan backlog is full: send the hashes now and the bytes later',
        { backlog: this.depth, max: scanBacklogMax },
        { retryAfterSeconds: backpressureRetryAfterSeconds },
      );
    }
    return true;
  }

  private refresh(): Promise<void> {
    this.refreshing ??= this.queue
      .backlog(QueueName.Scan)
      .then((depth) => {
        this.depth = depth;
        this.redisDown.recovered();
      })
      .catch((e: unknown) => {
        this.redisDown.warn(this.logger, e, 'scan backlog unknown: Redis did not answer');
      })
      .finally(() => {
        this.readAt = Date.now();
        this.refreshing = null;
      });
    return this.refreshing;
  }
}
