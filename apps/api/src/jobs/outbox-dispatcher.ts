import { Inject, Injectable, Logger } from '@nestjs/common';
import type { JobItem } from '#contracts';
import { OutboxRepository } from '#database';
import { QueueProducer, ConnectionErrorThrottle } from '#queue';

/**
 * The step after a transaction that committed a job to the outbox: add it to its queue, then drop the
 * row. When Redis is unreachable the row stays and the scanner's re-drive enqueues it later, so the
 * caller's request still succeeds and nothing is lost.
 */
@Injectable()
export class OutboxDispatcher {
  private readonly logger = new Logger(OutboxDispatcher.name);
  /** Redis outages: one line a minute, not a stack per request. */
  private readonly redisDown = new ConnectionErrorThrottle();

  constructor(
    @Inject(QueueProducer) private readonly queue: QueueProducer,
    @Inject(OutboxRepository) private readonly outbox: OutboxRepository,
  ) {}

  /** True when the job is in its queue now; false when it was left to the re-drive. */
  async dispatch(item: JobItem, jobId: string, outboxId: number): Promise<boolean> {
    try {
      await this.queue.add(item, jobId);
      this.redisDown.recovered();
      await this.outbox.remove(outboxId);
      return true;
    } catch (e) {
      this.redisDown.warn(this.logger, e, `${item.name} job ${jobId} left in the outbox for re-drive`);
      return false;
    }
  }
}
