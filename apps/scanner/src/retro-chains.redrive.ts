import { Inject, Injectable, Logger } from '@nestjs/common';
import { CONFIG, type Config } from '#config';
import { JobName, QueueName } from '#contracts';
import { RetrohuntsRepository, RetroscansRepository } from '#database';
import { QueueProducer, retrohuntJobId, retroscanCheckJobId, retroscanJobId } from '#queue';
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
      const jobId = retrohuntJobId(id, cursor);
      if (await this.queue.hasJob(QueueName.Retrohunt, jobId)) continue;
      await this.queue.add(
        {
          queue: QueueName.Retrohunt,
          name: JobName.RetrohuntBatch,
          data: cursor === null ? { retrohuntId: id } : { retrohuntId: id, after: cursor },
        },
        jobId,
      );
      retrohunts += 1;
      this.logger.warn(
        `retrohunt ${id}: its next batch job was missing from Redis (${quiet}); queued again ${cursor === null ? 'from the start' : `after ${cursor}`}`,
      );
    }
    let retroscans = 0;
    for (const retroscan of await this.retroscans.quietSince(quietSince, QUIET_PER_RUN)) {
      if (retroscan.status === 'checking') {
        const check = checkJobOf(retroscan);
        const checkId = retroscanCheckJobId(check);
        if (await this.queue.hasJob(QueueName.Retrohunt, checkId)) continue;
        await this.queue.add(
          { queue: QueueName.Retrohunt, name: JobName.RetroscanCheck, data: check },
          checkId,
        );
        retroscans += 1;
        this.logger.warn(
          `retro-scan ${retroscan.key}: its check job was missing from Redis (${quiet}); queued again ${retroscan.cursor === null ? 'from the start' : `after ${retroscan.cursor}`}`,
        );
        continue;
      }
      const data = nextBatchOf(retroscan);
      const jobId = retroscanJobId(data);
      if (await this.queue.hasJob(QueueName.Retrohunt, jobId)) continue;
      await this.queue.add({ queue: QueueName.Retrohunt, name: JobName.RetroscanBatch, data }, jobId);
      retroscans += 1;
      this.logger.warn(
        `retro-scan ${retroscan.key}: its next batch job was missing from Redis (${quiet}); queued again ${retroscan.cursor === null ? 'from the start' : `after ${retroscan.cursor}`}`,
      );
    }
    return { retrohunts, retroscans };
  }
}
