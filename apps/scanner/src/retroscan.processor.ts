import { Inject, Injectable, Logger } from '@nestjs/common';
import { CONFIG, type Config, retentionCutoff } from '#config';
import { JobName, QueueName, type RetroscanBatchJob, type RetroscanCheckJob } from '#contracts';
import {
  RetrohuntsRepository,
  RetroscansRepository,
  RulesetsRepository,
  type RetroscanRecord,
} from '#database';
import { QueueProducer, retroscanBatchJob, retroscanCheckJob, retroscanKey, scanJobId } from '#queue';

/**
 * BullMQ priority of retro-scan jobs. Jobs without a priority (every ingest scan and rescan) are taken
 * before any prioritized job, so fresh samples never wait behind a retro-scan.
 */
export const RETROSCAN_PRIORITY = 100;
/** Try a batch again this much later when the scan backlog is too deep. */
const BACKLOG_WAIT_MS = 1_000;

/** Puts the batch job in hand back for `delayMs` under its own id; throws what tells the worker so. */
export type Postpone = (delayMs: number) => Promise<never>;

/** The same for the check job, which comes back carrying `data` (where its pass goes on). */
export type PostponeCheck = (delayMs: number, data: RetroscanCheckJob) => Promise<never>;

/** Redis states of a scan job that has run for good: completed (its scan recorded) or failed (kept). */
const SCAN_JOB_OVER = new Set(['completed', 'failed']);

/** The check job of a retro-scan in its check phase, from the frontier (`after` unset: the row's cursor). */
export function checkJobOf(
  retroscan: Pick<RetroscanRecord, 'rulesetId' | 'until' | 'rule' | 'rulesAsOf'>,
): RetroscanCheckJob {
  return {
    rulesetId: retroscan.rulesetId,
    until: retroscan.until.toISOString(),
    ...(retroscan.rule === null ? {} : { rule: retroscan.rule }),
    // Set by the first batch, long before the last one turned it to checking: `until` is only a fallback.
    rulesAsOf: (retroscan.rulesAsOf ?? retroscan.until).toISOString(),
  };
}

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
 *
 * After the last batch every scan is queued, none need have run, and Redis may still lose them (restarted
 * without its data): the retro-scan goes on `checking` (see {@link RetroscanProcessor.check}) and is done
 * only once every sample it covers has a scan under its ruleset started at its rules instant or later.
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
    if (await this.backlogFull()) {
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
    for (const sample of samples) await this.addScan(sample.sha256, key, rulesAsOf);
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
      // Recorded as checking first: a check job lost before (or after) this add is put back by the re-drive.
      await this.enqueueCheck(
        {
          rulesetId: data.rulesetId,
          until: data.until,
          ...(data.rule === undefined ? {} : { rule: data.rule }),
          rulesAsOf,
        },
        this.config.scanner.retroscanCheckEveryMs,
      );
      this.logger.log(
        `retro-scan ${key}: every sample queued; checking every ${this.config.scanner.retroscanCheckEveryMs / 1000} s that each one's scan runs`,
      );
    }
    return { queued: samples.length };
  }

  /**
   * One step of a retro-scan's check phase. The row's cursor is its frontier: every covered sample up to it
   * has its scan. A step looks at the next RETROHUNT_BATCH_SIZE covered samples (the batches' filters) after
   * the frontier, or after `data.after` once this pass found one still unscanned. A sample has its scan when
   * the database holds one under the retro-scan's ruleset started at its rules instant or later (a failed
   * one too), or when its scan job, the id a batch gave it, is completed or failed in Redis (run for good; a
   * scanner whose clock lags the database's records a start before the instant). For the others it asks
   * Redis: one it still holds (waiting, active, delayed…) will run; one it lost is queued again under the same
   * id, so a job added meanwhile by anyone counts once. A step at the frontier moves it over the samples
   * that have their scan, up to the first one that has not. A pass ends at the last covered sample: the
   * retro-scan is done when its frontier got there, else the next pass starts from the frontier
   * RETROSCAN_CHECK_EVERY_MS later. The job goes on as itself, put back delayed with its new `after`
   * (retroscanCheckJobId): the re-drive tells from it whether Redis still holds the check. Waits while the
   * scan backlog is above half of SCAN_BACKLOG_MAX, and stops once another version is active.
   */
  async check(
    data: RetroscanCheckJob,
    postpone: PostponeCheck,
  ): Promise<{ looked: number; requeued: number; done?: true; superseded?: true }> {
    const key = retroscanKey(data);
    const fromFrontier: RetroscanCheckJob = { ...data };
    delete fromFrontier.after;
    delete fromFrontier.requeued;
    const active = await this.rulesets.activeId();
    if (active.id !== data.rulesetId) {
      await this.retroscans.supersede(key);
      this.logger.log(`retro-scan ${key} stops checking: another version is active`);
      return { looked: 0, requeued: 0, superseded: true };
    }
    const recorded = await this.retroscans.find(key);
    // Ended: the job ends too.
    if (recorded === null || recorded.status === 'done' || recorded.status === 'superseded') {
      return { looked: 0, requeued: 0 };
    }
    // Still running (a check job somehow ahead of the last batch): it comes back later rather than end, since
    // a completed job of this id would keep the last batch's from being added.
    if (recorded.status === 'running') {
      return postpone(this.config.scanner.retroscanCheckEveryMs, fromFrontier);
    }
    const batchSize = this.config.scanner.retrohuntBatchSize;
    if (await this.backlogFull()) {
      return postpone(BACKLOG_WAIT_MS, data);
    }
    const frontier = recorded.cursor;
    // A look-ahead behind the frontier (another run of a step moved it since) starts at the frontier.
    const from =
      data.after !== undefined && (frontier === null || data.after > frontier) ? data.after : frontier;
    const atFrontier = from === frontier;
    const covered = await this.retroscans.checkBatch({
      rulesetId: data.rulesetId,
      rulesAsOf: new Date(data.rulesAsOf),
      after: from,
      until: new Date(data.until),
      seenSince: retentionCutoff(this.config),
      limit: batchSize,
      ...(data.rule === undefined ? {} : { rule: data.rule }),
    });
    let scanned = from;
    let unscanned = 0;
    let requeued = 0;
    for (const sample of covered) {
      if (!sample.scanned) {
        const state = await this.queue.jobState(QueueName.Scan, scanJobId(sample.sha256, key));
        if (!SCAN_JOB_OVER.has(state)) {
          unscanned += 1;
          if (state === 'unknown') {
            await this.addScan(sample.sha256, key, data.rulesAsOf);
            requeued += 1;
          }
          continue;
        }
      }
      if (unscanned === 0) scanned = sample.sha256;
    }
    const end = covered.length < batchSize;
    const done = atFrontier && end && unscanned === 0;
    const requeuedInPass = (data.requeued ?? 0) + requeued;
    if (end && requeuedInPass > 0) {
      this.logger.warn(
        `retro-scan ${key}: ${requeuedInPass} scan job(s) missing from Redis queued again by this check pass (samples without their scan)`,
      );
    }
    if (
      !(await this.retroscans.checked(key, { from: frontier, to: atFrontier ? scanned : frontier, done }))
    ) {
      const now = await this.retroscans.find(key);
      if (now?.status !== 'checking') return { looked: covered.length, requeued };
      // Another run of this step moved the frontier first: this pass goes on from there.
      return postpone(0, fromFrontier);
    }
    if (done) {
      this.logger.log(`retro-scan ${key}: done, every sample it covers has its scan`);
      return { looked: covered.length, requeued, done: true };
    }
    const last = covered.at(-1);
    if (!end && last !== undefined) {
      // The next step at once, from the frontier while it moves, else from here (a look-ahead).
      return postpone(0, {
        ...fromFrontier,
        ...(atFrontier && unscanned === 0 ? {} : { after: last.sha256 }),
        ...(requeuedInPass === 0 ? {} : { requeued: requeuedInPass }),
      });
    }
    return postpone(this.config.scanner.retroscanCheckEveryMs, fromFrontier);
  }

  /** Whether the scan backlog is too deep for a batch or a check step now (above half of SCAN_BACKLOG_MAX). */
  private async backlogFull(): Promise<boolean> {
    const batchSize = this.config.scanner.retrohuntBatchSize;
    const backlog = await this.queue.backlog(QueueName.Scan);
    return backlog + batchSize > Math.max(batchSize, Math.floor(this.config.limits.scanBacklogMax / 2));
  }

  /**
   * The low-priority scan job of a sample in the retro-scan `key`, under the id its batch gave it (the check
   * adds a lost one again under the same id, so one Redis still holds counts once).
   */
  private async addScan(sha256: string, key: string, rulesAsOf: string): Promise<void> {
    await this.queue.add(
      { queue: QueueName.Scan, name: JobName.ScanSample, data: { sha256, rulesAsOf } },
      scanJobId(sha256, key),
      { priority: RETROSCAN_PRIORITY },
    );
  }

  private async enqueueCheck(job: RetroscanCheckJob, delayMs: number): Promise<void> {
    const { item, jobId } = retroscanCheckJob(job);
    await this.queue.add(item, jobId, { delay: delayMs });
  }

  private async enqueue(job: RetroscanBatchJob): Promise<void> {
    const { item, jobId } = retroscanBatchJob(job);
    await this.queue.add(item, jobId);
  }
}
