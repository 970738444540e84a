import { Inject, Injectable, Logger } from '@nestjs/common';
import { CONFIG, type Config, retentionCutoff } from '#config';
import { JobName, QueueName, type RetroscanBatchJob } from '#contracts';
import {
  RetrohuntsRepository,
  RetroscansRepository,
  RulesetsRepository,
  type RetroscanRecord,
} from '#database';
import { QueueProducer, retroscanJobId, retroscanKey, scanJobId } from '#queue';

/**
 * BullMQ priority of retro-scan jobs. Jobs without a priority (every ingest scan and rescan) are taken
 * before any prioritized job, so fresh samples never wait behind a retro-scan.
 */
export const RETROSCAN_PRIORITY = 100;
/** Try a batch again this much later when the scan backlog is too deep. */
const BACKLOG_WAIT_MS = 1_000;

/** Puts the batch job in hand back for `delayMs` under its own id; throws what tells the worker so. */
export type Postpone = (delayMs: number) => Promise<never>;

/**
 * The batch job a running retro-scan goes on with: the one after its recorded cursor (the first without one),
 * carrying its rules instant (`rulesAsOf`, when a batch ran already; else the one given).
 */
export function nextBatchOf(
  retroscan: Pick<RetroscanRecord, 'rulesetId' | 'until' | 'rule' | 'cursor' | 'rulesAsOf'>,
  rulesAsOf?: string,
): RetroscanBatchJob {
  const instant = retroscan.rulesAsOf?.toISOString() ?? rulesAsOf;
  return {
    rulesetId: retroscan.rulesetId,
    until: retroscan.until.toISOString(),
    ...(retroscan.cursor === null ? {} : { after: retroscan.cursor }),
    ...(retroscan.rule === null ? {} : { rule: retroscan.rule }),
    ...(instant === undefined ? {} : { rulesAsOf: instant }),
  };
}

/**
 * One batch of a retro-scan after an activation: queues a low-priority scan job for each of the next
 * samples, records how far it got (`retroscans`), then queues the next batch. It waits while the scan
 * backlog is above half of SCAN_BACKLOG_MAX, so a retro-scan never pushes uploads into 503 BACKPRESSURE.
 * The batch after the cursor `c` is always the job retroscanJobId({ ..., after: c }), waiting included: so
 * the re-drive can tell from the recorded cursor whether Redis still holds the chain (RetroChainsRedrive).
 */
@Injectable()
export class RetroscanProcessor {
  private readonly logger = new Logger(RetroscanProcessor.name);

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(RetrohuntsRepository) private readonly retrohunts: RetrohuntsRepository,
    @Inject(RulesetsRepository) private readonly rulesets: RulesetsRepository,
    @Inject(RetroscansRepository) private readonly retroscans: RetroscansRepository,
    @Inject(QueueProducer) private readonly queue: QueueProducer,
  ) {}

  async handle(
    data: RetroscanBatchJob,
    postpone: Postpone,
  ): Promise<{ queued: number; superseded?: true; replay?: true }> {
    const key = retroscanKey(data);
    const from = data.after ?? null;
    // Another version was activated since: its own retro-scan, if asked for, covers every sample, and
    // the scans queued here would run with it anyway. Two in full, one after the other, is twice the work.
    const active = await this.rulesets.activeId();
    if (active.id !== data.rulesetId) {
      await this.retroscans.supersede(key);
      this.logger.log(`retro-scan for ruleset ${data.rulesetId} stops: another version is active`);
      return { queued: 0, superseded: true };
    }
    const recorded = await this.retroscans.find(key);
    if (recorded === null) {
      // A retro-scan started before its progress was kept: recorded from here on.
      await this.retroscans.create({
        key,
        rulesetId: data.rulesetId,
        until: new Date(data.until),
        ...(data.rule === undefined ? {} : { rule: data.rule }),
        ...(from === null ? {} : { cursor: from }),
      });
    } else if (recorded.status !== 'running') {
      return { queued: 0 };
    } else if (recorded.cursor !== from) {
      // A batch already recorded, run again (a replay, or put back by the re-drive while the first run was
      // still under way): the chain goes on from the cursor, under that batch's id, which is one job.
      await this.enqueue(nextBatchOf(recorded, data.rulesAsOf));
      return { queued: 0, replay: true };
    }
    const batchSize = this.config.scanner.retrohuntBatchSize;
    const backlog = await this.queue.backlog(QueueName.Scan);
    if (backlog + batchSize > Math.max(batchSize, Math.floor(this.config.limits.scanBacklogMax / 2))) {
      return postpone(BACKLOG_WAIT_MS);
    }
    // This batch runs after the change committed (its job is dispatched after the commit): the clock read
    // with the active id is past it, and every batch of the retro-scan passes the first one's on.
    const rulesAsOf = data.rulesAsOf ?? active.at.toISOString();
    const samples = await this.retrohunts.samplesAfter({
      after: from,
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
    const next = samples.length === batchSize && last !== undefined ? last.sha256 : null;
    // Recorded before the next batch is queued: a next batch lost by Redis is put back from this cursor.
    const advanced = await this.retroscans.advance(key, {
      from,
      to: last?.sha256 ?? from,
      rulesAsOf: new Date(rulesAsOf),
      last: next === null,
    });
    // Another run of this batch recorded it first and queues the next one.
    if (!advanced) return { queued: samples.length };
    if (next !== null) {
      await this.enqueue({ ...data, after: next, rulesAsOf });
    } else {
      this.logger.log(
        `retro-scan for ruleset ${data.rulesetId}${data.rule === undefined ? '' : ` (rule ${data.rule})`}: every sample queued`,
      );
    }
    return { queued: samples.length };
  }

  private async enqueue(job: RetroscanBatchJob): Promise<void> {
    await this.queue.add(
      { queue: QueueName.Retrohunt, name: JobName.RetroscanBatch, data: job },
      retroscanJobId(job),
    );
  }
}
