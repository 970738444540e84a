import { Inject, Injectable, Logger } from '@nestjs/common';
import { JobName, type JobItem, type OutboxRedriveJob, QueueName } from '#contracts';
import { OutboxRepository, SubmissionsRepository, type OutboxRecord } from '#database';
import { QueueProducer } from '#queue';

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

  constructor(
    @Inject(OutboxRepository) private readonly outbox: OutboxRepository,
    @Inject(SubmissionsRepository) private readonly submissions: SubmissionsRepository,
    @Inject(QueueProducer) private readonly queue: QueueProducer,
  ) {}

  async handle(data: OutboxRedriveJob): Promise<{ enqueued: number; invalid: number }> {
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
    return { enqueued, invalid };
  }
}
