import { Inject, Injectable, Logger } from '@nestjs/common';
import { CONFIG, type Config, retentionCutoff } from '#config';
import { type ConsentPurgeJob, JobName, QueueName, type RetentionSweepJob } from '#contracts';
import { AuditRepository, type BatchOutcome, StewardshipRepository, UploadsRepository } from '#database';
import { QueueProducer } from '#queue';
import { OBJECT_STORE, type ObjectStore, deleteUpload } from '#storage';

const SYSTEM = 'system:stewardship';
const TOMBSTONES_PER_PASS = 500;
const AGENTS_PER_SWEEP = 100;

export interface PurgeCounts {
  batches: number;
  submissionsDeleted: number;
  samplesDeleted: number;
  samplesKept: number;
  objectsDeleted: number;
  /** Unfinished resumable uploads of the agent removed (consent purge only). */
  uploadsDeleted?: number;
  /** Rows of agents revoked before the cutoff of whom nothing else remained, deleted (retention sweep only). */
  agentsForgotten?: number;
  /** Idempotency keys older than IDEMPOTENCY_KEY_HOURS, deleted (retention sweep only). */
  idempotencyKeysExpired?: number;
}

const add = (c: PurgeCounts, b: BatchOutcome): void => {
  c.batches += 1;
  c.submissionsDeleted += b.submissionsDeleted;
  c.samplesDeleted += b.samplesDeleted;
  c.samplesKept += b.samplesKept;
};

/** The UTC day (YYYY-MM-DD) `days` days before now. */
const utcDay = (daysAgo = 0): string =>
  new Date(Date.now() - daysAgo * 86_400_000).toISOString().slice(0, 10);

/**
 * Maintenance jobs of the data-stewardship promises: consent purge, retention sweep, statistics roll-up.
 * Deletions go in batches, each one transaction that also writes tombstones of the objects it orphaned;
 * objects are deleted after the commit, from the tombstones, so a crash leaves at worst a tombstone that
 * the next run (of any of these jobs) finishes. Days that are over are rolled up and made final before
 * their raw rows are destroyed, and what is destroyed from today or yesterday is kept for their roll-ups,
 * so the statistics do not change when data goes, and what comes later on such a day still counts.
 */
@Injectable()
export class StewardshipJobs {
  private readonly logger = new Logger(StewardshipJobs.name);

  constructor(
    @Inject(CONFIG) private readonly config: Config,
    @Inject(StewardshipRepository) private readonly stewardship: StewardshipRepository,
    @Inject(AuditRepository) private readonly audit: AuditRepository,
    @Inject(QueueProducer) private readonly queue: QueueProducer,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    @Inject(UploadsRepository) private readonly uploads: UploadsRepository,
  ) {}

  /** Removes what the agent submitted before withdrawing its consent; shared samples stay. */
  async purge(data: ConsentPurgeJob): Promise<PurgeCounts> {
    const counts: PurgeCounts = {
      batches: 0,
      submissionsDeleted: 0,
      samplesDeleted: 0,
      samplesKept: 0,
      objectsDeleted: 0,
    };
    const record = (details: Record<string, unknown>) =>
      this.audit.append({
        actorId: null,
        actorName: SYSTEM,
        action: 'consent.purge',
        targetType: 'agent',
        // The audit log outlives the agent: it names it only by its keyed pseudonym.
        targetId: data.agent,
        details,
      });
    await this.recordingStop(counts, record, async () => {
      await this.drainTombstones(counts);
      await this.freeze(await this.stewardship.purgeDays(data.agent));
      const failAfter = this.config.stewardship.purgeFailAfterBatches;
      for (;;) {
        const batch = await this.stewardship.purgeBatch(data.agent, this.config.stewardship.purgeBatchSize);
        if (batch.samples === 0) break;
        add(counts, batch);
        if (failAfter !== undefined && counts.batches >= failAfter) {
          // Test hook: a crash after a batch committed and before its objects were deleted.
          throw new Error(`consent purge stopped after ${counts.batches} batches (PURGE_FAIL_AFTER_BATCHES)`);
        }
        await this.drainTombstones(counts);
      }
      await this.drainTombstones(counts);
      counts.uploadsDeleted = 0;
      await this.removeUploads(data.agent, counts);
    });
    await record({ ...counts });
    this.logger.log(`consent purge: ${JSON.stringify(counts)}`);
    return counts;
  }

  /**
   * Runs `work`; when it fails after deleting something, what it deleted is audited before the error goes
   * on (the retry audits only what it deletes itself): each batch commits on its own, so without this a
   * purge or sweep that failed after some batches left no record of them. A process killed midway still does.
   */
  private async recordingStop(
    counts: PurgeCounts,
    record: (details: Record<string, unknown>) => Promise<unknown>,
    work: () => Promise<void>,
  ): Promise<void> {
    try {
      await work();
    } catch (e) {
      if (
        counts.batches > 0 ||
        counts.objectsDeleted > 0 ||
        (counts.uploadsDeleted ?? 0) > 0 ||
        (counts.agentsForgotten ?? 0) > 0
      ) {
        const error = e instanceof Error ? e.message : String(e);
        await record({ ...counts, interrupted: true, error }).catch((auditError: unknown) =>
          this.logger.error({ err: auditError }, 'could not audit what an interrupted run deleted'),
        );
      }
      throw e;
    }
  }

  /**
   * Removes the resumable uploads the agent left unfinished when it withdrew: parts first, then the row
   * (with the metadata as sent), so a crash in between leaves a row that the retried purge finds again. A
   * chunk stored by a PATCH in flight can land after the parts were listed; the API's upload sweep removes
   * parts whose upload has no row (removeOrphanedParts in apps/api/src/uploads).
   */
  private async removeUploads(agent: string, counts: PurgeCounts): Promise<void> {
    for (;;) {
      const ids = await this.stewardship.agentUploads(agent, 100);
      for (const id of ids) {
        await deleteUpload(this.store, id);
        await this.uploads.delete(id);
        // Counted as each goes: a failure later still reports it (see recordingStop).
        counts.uploadsDeleted = (counts.uploadsDeleted ?? 0) + 1;
      }
      if (ids.length < 100) return;
    }
  }

  /**
   * Queues a purge for every agent whose consent is withdrawn and whose data is still stored, after
   * deleting the objects of tombstones left outside a purge (an upload refused because its agent withdrew
   * while it ran: the API queues this sweep then, so those bytes go at once).
   */
  async consentSweep(): Promise<{ queued: number; objectsDeleted: number }> {
    const objectsDeleted = await this.drainTombstones();
    const agents = await this.stewardship.agentsToPurge(AGENTS_PER_SWEEP);
    for (const agent of agents) {
      // One purge per agent at a time: a job id that is still waiting or active is not added twice.
      await this.queue.add(
        { queue: QueueName.Maintenance, name: JobName.ConsentPurge, data: { agent } },
        `consent-purge-sweep-${agent}`,
        { removeOnComplete: true, removeOnFail: true },
      );
    }
    return { queued: agents.length, objectsDeleted };
  }

  /**
   * Destroys raw data of samples last sighted more than RETENTION_DAYS ago, then forgets the agents revoked
   * more than RETENTION_DAYS ago of whom nothing remains.
   */
  async retentionSweep(data: RetentionSweepJob): Promise<PurgeCounts & { cutoff: string }> {
    const cutoff = retentionCutoff(this.config);
    const counts: PurgeCounts = {
      batches: 0,
      submissionsDeleted: 0,
      samplesDeleted: 0,
      samplesKept: 0,
      objectsDeleted: 0,
    };
    const record = (details: Record<string, unknown>) =>
      this.audit.append({
        actorId: data.requestedBy ?? null,
        actorName: data.requestedBy === undefined ? SYSTEM : (data.requestedByName ?? 'admin'),
        action: 'retention.sweep',
        targetType: 'samples',
        details: {
          ...details,
          cutoff: cutoff.toISOString(),
          retentionDays: this.config.stewardship.retentionDays,
        },
      });
    await this.recordingStop(counts, record, async () => {
      await this.drainTombstones(counts);
      await this.freeze(await this.stewardship.expiredDays(cutoff));
      for (;;) {
        const batch = await this.stewardship.retentionBatch(cutoff, this.config.stewardship.purgeBatchSize);
        if (batch.samples === 0) break;
        add(counts, batch);
        await this.drainTombstones(counts);
      }
      // Then the agents revoked before the cutoff of whom nothing is left (their last submissions may have
      // gone with the samples above): their rows and keys' rows, the last link from a pseudonym to them.
      counts.agentsForgotten = await this.inBatches((limit) =>
        this.stewardship.forgetRevokedAgents(cutoff, limit),
      );
      // Upload idempotency keys past their time (those of the submissions deleted above went with them).
      const keysBefore = new Date(Date.now() - this.config.stewardship.idempotencyKeyHours * 3_600_000);
      counts.idempotencyKeysExpired = await this.inBatches((limit) =>
        this.stewardship.expireIdempotencyKeys(keysBefore, limit),
      );
    });
    await record({ ...counts });
    this.logger.log(`retention sweep: ${JSON.stringify(counts)}`);
    return { ...counts, cutoff: cutoff.toISOString() };
  }

  /**
   * Rolls up every day with raw rows whose roll-up is not final; days before yesterday (UTC) become final,
   * so late scans of yesterday's samples still count.
   */
  async rollup(): Promise<{ days: number }> {
    const days = await this.stewardship.openDays();
    const finalBefore = utcDay(1);
    for (const day of days) {
      await this.stewardship.rollupDay(day, this.config.stewardship.kAnonymity, day < finalBefore);
    }
    return { days: days.length };
  }

  /**
   * Rolls up and makes final the days whose raw rows are about to be destroyed, when they are over (before
   * yesterday, as the scheduled roll-up would). Today and yesterday stay open: what the batches remove from
   * them is kept for their roll-ups (StewardshipRepository.keepInStats), so what comes later still counts.
   */
  private async freeze(days: string[]): Promise<void> {
    const finalBefore = utcDay(1);
    for (const day of days) {
      if (day < finalBefore) await this.stewardship.rollupDay(day, this.config.stewardship.kAnonymity, true);
    }
  }

  /** Deletes the objects of tombstones, unless a new upload of the same bytes uses the key again. */
  /** `step` with PURGE_BATCH_SIZE until a batch comes back short; the rows it dealt with in all. */
  private async inBatches(step: (limit: number) => Promise<number>): Promise<number> {
    const limit = this.config.stewardship.purgeBatchSize;
    let total = 0;
    for (;;) {
      const done = await step(limit);
      total += done;
      if (done < limit) return total;
    }
  }

  /**
   * Deletes the objects of the tombstones, then the tombstones; how many went, counted into `counts` as
   * each goes (a drain that fails at the tenth has deleted nine, which the audit must say).
   */
  private async drainTombstones(counts?: PurgeCounts): Promise<number> {
    let deleted = 0;
    for (;;) {
      const keys = await this.stewardship.tombstones(TOMBSTONES_PER_PASS);
      for (const key of keys) {
        if (await this.stewardship.drainTombstone(key, () => this.store.delete(key))) {
          deleted += 1;
          if (counts !== undefined) counts.objectsDeleted += 1;
        }
      }
      if (keys.length < TOMBSTONES_PER_PASS) return deleted;
    }
  }
}
