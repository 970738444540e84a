import { Inject, Injectable } from '@nestjs/common';
import {
  type FailedJobView,
  FailedJobsQuery,
  type Principal,
  QueueName,
  ReplayFailedJobsRequest,
  SpecimenError,
  type ReplayedJobsView,
} from '#contracts';
import { AuditRepository } from '#database';
import { QueueProducer } from '#queue';
import { parseOrThrow } from '../http/validation.js';

/** Failed jobs of every queue are kept (never removed); an admin lists and replays them. */
@Injectable()
export class FailedJobsService {
  constructor(
    @Inject(QueueProducer) private readonly queue: QueueProducer,
    @Inject(AuditRepository) private readonly audit: AuditRepository,
  ) {}

  async list(query: unknown): Promise<FailedJobView[]> {
    const { queue, limit } = parseOrThrow(FailedJobsQuery, query, 'query');
    return (await this.queue.failed(queue, limit)).map((j) => ({
      id: j.id,
      name: j.name,
      data: j.data,
      failedReason: j.failedReason,
      attemptsMade: j.attemptsMade,
      failedAt: j.failedAt?.toISOString() ?? null,
      createdAt: j.createdAt.toISOString(),
    }));
  }

  /**
   * The audit record is written first: a replay that cannot be audited does not happen. Nor is one audited
   * while Redis is known to be down (503 at once): the record would say "replayed" of jobs left as they were.
   */
  async replay(body: unknown, principal: Principal): Promise<ReplayedJobsView> {
    const { queue, ids } = parseOrThrow(ReplayFailedJobsRequest, body, 'body');
    if (queue === QueueName.Retrohunt) {
      // Its job would find the retrohunt failed and its compiled rules removed, and do nothing. The queue also
      // holds retro-scan batches and checks, which the scanner's re-drive retries by itself.
      throw new SpecimenError(
        'CONFLICT',
        'failed jobs of the retrohunt queue are not replayed: start a failed retrohunt again with POST /v1/retrohunts and its source; a failed retro-scan batch or check is retried by the scanner once its retro-scan has been quiet for RETROHUNT_STALLED_AFTER_MS',
        { queue },
      );
    }
    this.queue.assertReachable();
    await this.audit.append({
      actorId: principal.tokenId,
      actorName: principal.name,
      action: 'jobs.replay',
      targetType: 'queue',
      targetId: queue,
      details: { ids: ids ?? 'all' },
    });
    const outcome = await this.queue.replayFailed(queue, ids);
    return { queue, ...outcome };
  }
}
