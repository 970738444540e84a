import { Inject, Injectable, Logger } from '@nestjs/common';
import { CONFIG, type Config } from '#config';
import { QueueName } from '#contracts';
import { RetrohuntsRepository, RetroscansRepository } from '#database';
import { QueueProducer, retrohuntBatchJob, retroscanBatchJob, retroscanCheckJob } from '#queue';
import { checkJobOf, nextBatchOf } from './retroscan.processor.js';

/** Quiet retrohunts (and as many retro-scans) whose next batch job is looked for in Redis per run. */
const QUIET_PER_RUN = 50;

/**
 * Retrohunt and retro-scan chains Redis lost. Each batch records its cursor, then queues the next batch
 * under an id made from that cursor (retrohuntJobId, retroscanJobId), and no outbox row backs that job: a
 * Redis restarted without its data (no persistence, a failover to an empty replica) took it, and the
 * retrohunt stayed `running` for ever, the retro-scan stopped half way. One unfinished whose batches have
 * not moved for RETROHUNT_STALLED_AFTER_MS (so not one between its record and its next job's add) and
 * whose next job the queue does not hold in any state (waiting, delayed, active, failed…: a long batch or
 * one waiting for a slot is left alone) gets that job again under the same id, so that one added meanwhile
 * by anyone counts once; a batch run twice is recorded once (the cursor it started from must still be the
 * recorded one). A retro-scan in its check phase whose check job (one id for all its steps) Redis lost gets
 * it again the same way: it goes on from its frontier, and the scan jobs Redis lost with it are found by it.
 * A retro-scan's batch or check job that failed for good (out of attempts: a retrohunt records its own
 * failure, a retro-scan has no such end) is retried the same way, its attempts reset.
 * Run by the outbox re-drive.
 */
@Injectable()
export class RetroChainsRedrive {
  private readonly logger = new Logger(RetroChainsRedrive.name);

  constructor(
    @Inject(RetrohuntsRepository) private readonly retrohunts: RetrohuntsRepository,
    @Inject(RetroscansRepository) private readonly retroscans: RetroscansRepository,
    @Inject(QueueProducer) private readonly queue: QueueProducer,
    @Inject(CONFIG) private readonly config: Pick<Config, 'scanner'>,
  ) {}

  async handle(): Promise<{ retrohunts: number; retroscans: number }> {
    const quietSince = new Date(Date.now() - this.config.scanner.retrohuntStalledAfterMs);
    const quiet = `no progress for ${this.config.scanner.retrohuntStalledAfterMs / 1000} s`;
    let retrohunts = 0;
    for (const { id, cursor } of await this.retrohunts.quietSince(quietSince, QUIET_PER_RUN)) {
      const { item, jobId } = retrohuntBatchJob(id, cursor);
      if (await this.queue.hasJob(QueueName.Retrohunt, jobId)) continue;
      await this.queue.add(item, jobId);
      retrohunts += 1;
      this.logger.warn(
        `retrohunt ${id}: its next batch job was missing from Redis (${quiet}); queued again ${cursor === null ? 'from the start' : `after ${cursor}`}`,
      );
    }
    let retroscans = 0;
    for (const retroscan of await this.retroscans.quietSince(quietSince, QUIET_PER_RUN)) {
      const from = retroscan.cursor === null ? 'from the start' : `after ${retroscan.cursor}`;
      const checking = retroscan.status === 'checking';
      const { item, jobId } = checking
        ? retroscanCheckJob(checkJobOf(retroscan))
        : retroscanBatchJob(nextBatchOf(retroscan));
      const what = checking ? 'its check job' : 'its next batch job';
      const state = await this.queue.jobState(QueueName.Retrohunt, jobId);
      if (state === 'failed') {
        // Out of attempts (a database outage longer than the backoff, say). Nothing else would run it again
        // (the replay endpoint refuses this queue), and the retro-scan stayed unfinished for good: it is
        // retried with its attempts reset, which a batch or a check step can be (it goes on from its row).
        await this.queue.replayFailed(QueueName.Retrohunt, [jobId]);
        retroscans += 1;
        this.logger.warn(
          `retro-scan ${retroscan.key}: ${what} had failed for good (${quiet}); retried ${from}`,
        );
        continue;
      }
      if (state !== 'unknown') continue;
      await this.queue.add(item, jobId);
      retroscans += 1;
      this.logger.warn(
        `retro-scan ${retroscan.key}: ${what} was missing from Redis (${quiet}); queued again ${from}`,
      );
    }
    return { retrohunts, retroscans };
  }
}
