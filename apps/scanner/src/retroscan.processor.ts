import { Inject, Injectable, Logger } from '@nestjs/common';
import { CONFIG, type Config, retentionCutoff } from '#config';
import { JobName, QueueName, type RetroscanBatchJob } from '#contracts';
import { RetrohuntsRepository, RulesetsRepository } from '#database';
import { QueueProducer, retroscanJobId, retroscanKey, scanJobId } from '#queue';

/**
 * BullMQ priority of retro-scan jobs. Jobs without a priority (every ingest scan and rescan) are taken
 * before any prioritized job, so fresh samples never wait behind a retro-scan.
 */
export const RETROSCAN_PRIORITY = 100;
/** Retry a batch this much later when the scan backlog is too deep. */
const BACKLOG_WAIT_MS = 1_000;

/**
 * One batch of a retro-scan after an activation: queues a low-priority scan job for each of the next
 * samples, then the next batch. It waits while the scan backlog is above half of SCAN_BACKLOG_MAX, so a
 * retro-scan never pushes uploads into 503 BACKPRESSURE.
 */
@Injectable()
export class RetroscanProcessor {
  private readonly logger = new Logger(RetroscanProcessor.name);

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(RetrohuntsRepository) private readonly retrohunts: RetrohuntsRepository,
    @Inject(RulesetsRepository) private readonly rulesets: RulesetsRepository,
    @Inject(QueueProducer) private readonly queue: QueueProducer,
  ) {}

  async handle(data: RetroscanBatchJob): Promise<{ queued: number; waiting: boolean; superseded?: true }> {
    // Another version was activated since: its own retro-scan, if asked for, covers every sample, and
    // the scans queued here would run with it anyway. Two in full, one after the other, is twice the work.
    const active = await this.rulesets.activeId();
    if (active.id !== data.rulesetId) {
      this.logger.log(`retro-scan for ruleset ${data.rulesetId} stops: another version is active`);
      return { queued: 0, waiting: false, superseded: true };
    }
    const batchSize = this.config.scanner.retrohuntBatchSize;
    const backlog = await this.queue.backlog(QueueName.Scan);
    if (backlog + batchSize > Math.max(batchSize, Math.floor(this.config.limits.scanBacklogMax / 2))) {
      await this.queue.add(
        { queue: QueueName.Retrohunt, name: JobName.RetroscanBatch, data },
        `${retroscanJobId(data)}-wait-${Date.now()}`,
        { delay: BACKLOG_WAIT_MS },
      );
      return { queued: 0, waiting: true };
    }
    // This batch runs after the change committed (its job is dispatched after the commit): the clock read
    // with the active id is past it, and every batch of the retro-scan passes the first one's on.
    const rulesAsOf = data.rulesAsOf ?? active.at.toISOString();
    const samples = await this.retrohunts.samplesAfter({
      after: data.after ?? null,
      until: new Date(data.until),
      seenSince: retentionCutoff(this.config),
      limit: batchSize,
      ...(data.rule === undefined ? {} : { matchedRule: data.rule }),
    });
    for (const sample of samples) {
      await this.queue.add(
        { queue: QueueName.Scan, name: JobName.ScanSample, data: { sha256: sample.sha256, rulesAsOf } },
        scanJobId(sample.sha256, retroscanKey(data)),
        { priority: RETROSCAN_PRIORITY },
      );
    }
    const last = samples.at(-1);
    if (samples.length === batchSize && last !== undefined) {
      const next = { ...data, after: last.sha256, rulesAsOf };
      await this.queue.add(
        { queue: QueueName.Retrohunt, name: JobName.RetroscanBatch, data: next },
        retroscanJobId(next),
      );
    } else {
      this.logger.log(
        `retro-scan for ruleset ${data.rulesetId}${data.rule === undefined ? '' : ` (rule ${data.rule})`}: every sample queued`,
      );
    }
    return { queued: samples.length, waiting: false };
  }
}
