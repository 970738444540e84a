import { Inject, Injectable, Logger } from '@nestjs/common';
import { CONFIG, type Config } from '#config';
import { JobName, type JobItem, type OutboxRedriveJob, QueueName } from '#contracts';
import { OutboxRepository, type StrandedCursor, SubmissionsRepository, type OutboxRecord } from '#database';
import { QueueProducer, ingestScanJob } from '#queue';
import { RetroChainsRedrive } from './retro-chains.redrive.js';

/**
 * Unscanned samples whose scan job is looked for in Redis per re-drive run (oldest first, each run going
 * on from where the last one stopped).
 */
const STRANDED_PER_RUN = 500;

/** Rebuilds the typed job of an outbox row; a row naming an unknown job is reported, not guessed at. */
export function jobItemOf(row: OutboxRecord): JobItem | null {
  if (row.queue === String(QueueName.Scan) && row.name === String(JobName.ScanSample)) {
    const { sha256, submissionId, rulesAsOf } = row.payload;
    if (typeof sha256 !== 'string') return null;
    return {
      queue: QueueName.Scan,
      name: JobName.ScanSample,
      data: {
        sha256,
        ...(typeof submissionId === 'string' ? { submissionId } : {}),
        ...(typeof rulesAsOf === 'string' ? { rulesAsOf } : {}),
      },
    };
  }
  if (row.queue === String(QueueName.Maintenance) && row.name === String(JobName.ConsentPurge)) {
    const { agent } = row.payload;
    if (typeof agent !== 'string') return null;
    return { queue: QueueName.Maintenance, name: JobName.ConsentPurge, data: { agent } };
  }
  const after = typeof row.payload.after === 'string' ? { after: row.payload.after } : {};
  if (row.queue === String(QueueName.Retrohunt) && row.name === String(JobName.RetrohuntBatch)) {
    const { retrohuntId } = row.payload;
    if (typeof retrohuntId !== 'string') return null;
    return { queue: QueueName.Retrohunt, name: JobName.RetrohuntBatch, data: { retrohuntId, ...after } };
  }
  if (row.queue === String(QueueName.Retrohunt) && row.name === String(JobName.RetroscanBatch)) {
    const { rulesetId, until, rule, rulesAsOf } = row.payload;
    if (typeof rulesetId !== 'string' || typeof until !== 'string') return null;
    return {
      queue: QueueName.Retrohunt,
      name: JobName.RetroscanBatch,
      data: {
        rulesetId,
        until,
        ...after,
        // A rule-state change's rescan covers only the samples that matched the rule: without it, every one.
        ...(typeof rule === 'string' ? { rule } : {}),
        ...(typeof rulesAsOf === 'string' ? { rulesAsOf } : {}),
      },
    };
  }
  return null;
}

/**
 * Enqueues outbox rows whose producer could not reach Redis (it committed the rows, then failed to add
 * the job). Runs on the maintenance queue every few seconds; the deterministic job ids make a row that
 * was in fact enqueued harmless to add again.
 */
@Injectable()
export class OutboxRedrive {
  private readonly logger = new Logger(OutboxRedrive.name);
  /** Where the next run's look for lost scan jobs starts; null: from the oldest. */
  private strandedFrom: StrandedCursor | null = null;

  constructor(
    @Inject(OutboxRepository) private readonly outbox: OutboxRepository,
    @Inject(SubmissionsRepository) private readonly submissions: SubmissionsRepository,
    @Inject(QueueProducer) private readonly queue: QueueProducer,
    @Inject(CONFIG) private readonly config: Pick<Config, 'scanner'>,
    @Inject(RetroChainsRedrive) private readonly chains: RetroChainsRedrive,
  ) {}

  async handle(data: OutboxRedriveJob): Promise<{
    enqueued: number;
    invalid: number;
    requeued: number;
    resumed: { retrohunts: number; retroscans: number };
  }> {
    const rows = await this.outbox.pending(new Date(Date.now() - data.olderThanMs), 500);
    let enqueued = 0;
    let invalid = 0;
    for (const row of rows) {
      const item = jobItemOf(row);
      if (item === null) {
        invalid += 1;
        await this.outbox.recordFailure(row.id, `unknown job ${row.queue}/${row.name}`);
        continue;
      }
      await this.queue.add(item, row.jobId);
      if (item.name === JobName.ScanSample && item.data.submissionId !== undefined) {
        await this.submissions.markQueued(item.data.submissionId, row.id);
      } else {
        await this.outbox.remove(row.id);
      }
      enqueued += 1;
    }
    if (enqueued > 0 || invalid > 0)
      this.logger.log(`outbox re-drive: ${enqueued} enqueued, ${invalid} invalid`);
    const requeued = await this.requeueStranded();
    // After the outbox rows: a chain whose first job waited there is in Redis by now, not resumed twice.
    const resumed = await this.chains.handle();
    return { enqueued, invalid, requeued, resumed };
  }

  /**
   * Scan jobs Redis lost: the outbox row of an upload goes once its job is in Redis, so a Redis restarted
   * without its data (no persistence, a failover to an empty replica) took the queued scans with it and
   * their samples stayed unscanned for good. A sample still unscanned SCAN_STRANDED_AFTER_MS after it was
   * first seen whose ingest scan job the scan queue does not hold (in any state: waiting, active, failed…)
   * gets it again, under the same id, so one added meanwhile by anyone else counts once. Each run looks at
   * the next STRANDED_PER_RUN of them, going round: behind a backlog of old samples whose jobs are queued,
   * the lost ones further on are found too, not only once the backlog has drained.
   */
  private async requeueStranded(): Promise<number> {
    const { samples, next } = await this.submissions.strandedScans(
      new Date(Date.now() - this.config.scanner.strandedAfterMs),
      STRANDED_PER_RUN,
      this.strandedFrom,
    );
    this.strandedFrom = next;
    let requeued = 0;
    for (const { sha256, submissionId } of samples) {
      const { item, jobId } = ingestScanJob(sha256, submissionId);
      if (await this.queue.hasJob(QueueName.Scan, jobId)) continue;
      await this.queue.add(item, jobId);
      requeued += 1;
    }
    if (requeued > 0) {
      this.logger.warn(
        `${requeued} scan job(s) missing from Redis queued again (samples unscanned ${this.config.scanner.strandedAfterMs / 1000} s after they arrived)`,
      );
    }
    return requeued;
  }
}
