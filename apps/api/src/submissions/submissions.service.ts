import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { CONFIG, type Config, retentionCutoff } from '#config';
import {
  type Digests,
  JobName,
  type Principal,
  QueueName,
  SpecimenError,
  type SubmissionCreated,
  type SubmissionMetadata,
  type SubmissionView,
} from '#contracts';
import { Batcher, type RecordedSubmission, SubmissionsRepository } from '#database';
import { SpecimenMetrics } from '#observability';
import { QueueProducer, ingestScanJob, ingestScanJobId, ConnectionErrorThrottle } from '#queue';
import { OBJECT_STORE, type ObjectStore, sampleKey } from '#storage';
import { submitterOf } from '../auth/auth.js';
import { scrubString, scrubbedContext } from './scrub.js';
import type { ReceivedFile } from './upload.engine.js';

/** Labels only: no path, no control characters, bounded length. */
export function sanitizeFilename(name: string | undefined): string | null {
  if (name === undefined) return null;
  const last = name.split(/[\\/]/).pop() ?? '';
  const base = [...last]
    .filter((c) => c.charCodeAt(0) >= 0x20 && c.charCodeAt(0) !== 0x7f)
    .join('')
    .trim();
  return base === '' ? null : base.slice(0, 255);
}

/** Which declared value, if any, disagrees with what was received. */
export function verify(declared: SubmissionMetadata, actual: Digests): SpecimenError | null {
  if (declared.size !== actual.size) {
    return new SpecimenError(
      'SIZE_MISMATCH',
      `declared size ${declared.size} but received ${actual.size} bytes`,
      {
        field: 'size',
        declared: declared.size,
        actual: actual.size,
      },
    );
  }
  for (const field of ['sha256', 'sha1', 'md5'] as const) {
    const value = declared[field];
    if (value !== undefined && value !== actual[field]) {
      return new SpecimenError('CHECKSUM_MISMATCH', `declared ${field} does not match the received bytes`, {
        field,
        declared: value,
        actual: actual[field],
      });
    }
  }
  return null;
}

/** Submissions marked queued in one statement at most (see {@link SubmissionsService.queued}). */
const MAX_QUEUED_BATCH = 256;

@Injectable()
export class SubmissionsService {
  private readonly logger = new Logger(SubmissionsService.name);
  /** Redis outages: one line a minute, not a stack per request. */
  private readonly redisDown = new ConnectionErrorThrottle();
  /**
   * Marks submissions queued (outbox row dropped) in one statement for all the uploads that got there
   * while the previous one ran: one commit for many instead of one each. A lone upload waits for no one;
   * a failed batch is retried row by row, so an upload fails only for its own row.
   */
  private readonly queued: Batcher<{ submissionId: string; outboxId: number }, undefined>;

  constructor(
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    @Inject(SubmissionsRepository) private readonly submissions: SubmissionsRepository,
    @Inject(QueueProducer) private readonly queue: QueueProducer,
    @Inject(SpecimenMetrics) private readonly metrics: SpecimenMetrics,
    @Inject(CONFIG) private readonly config: Pick<Config, 'stewardship'>,
  ) {
    this.queued = new Batcher(async (rows) => {
      await this.submissions.markQueuedMany(rows);
      return rows.map(() => undefined);
    }, MAX_QUEUED_BATCH);
  }

  /**
   * After the bytes are in a temporary object: verify, promote to the content-addressed key (or drop the
   * copy), commit sample + submission + outbox in one transaction, then enqueue. The order (object, rows,
   * job) means a crash leaves at worst an unreferenced object or an outbox row to re-drive, never a row
   * pointing at missing bytes or a lost job.
   */
  async accept(
    file: ReceivedFile | undefined,
    principal: Principal,
    idempotencyKey?: string,
  ): Promise<SubmissionCreated & { replayed: boolean }> {
    if (file === undefined) {
      throw new SpecimenError('MISSING_FILE', 'the "file" part is missing');
    }
    const { tempKey, digests, metadata } = file;
    const problem =
      digests.size === 0
        ? new SpecimenError('EMPTY_FILE', 'the file part is empty')
        : verify(metadata, digests);
    if (problem !== null) {
      await this.store.delete(tempKey);
      throw problem;
    }
    const key = sampleKey(digests.sha256);
    // The temporary object stays until the rows are written: when a consent purge or retention sweep has
    // just deleted this sample, its tombstone drain can delete the object under `key` between this promote
    // and the commit (it checks for a sample row under the key's lock, which the commit also takes). A new
    // sample row therefore checks its object after the commit and promotes the copy again if it is gone.
    await this.store.promote(tempKey, key, { keepSource: true });
    let recorded: RecordedSubmission;
    try {
      recorded = await this.record(file, key, principal, idempotencyKey);
      if (!recorded.replayed && !recorded.duplicate && (await this.store.stat(key)) === null) {
        await this.store.promote(tempKey, key, { keepSource: true });
      }
    } catch (e) {
      // Refused because the agent withdrew meanwhile: the object promoted above has a tombstone, which the
      // scanner's consent sweep drains now rather than at the next purge or retention sweep (an hour).
      if (e instanceof SpecimenError && e.code === 'CONSENT_REQUIRED') this.drainSoon();
      // Any other failure (the database lost mid-statement) would leave the object without a row: it gets
      // a tombstone too when the database takes one (else it stays, as after a crash).
      // So would an idempotency key refused for other bytes: nothing was written for them.
      else await this.forget(digests.sha256, key);
      throw e;
    } finally {
      await this.store.delete(tempKey);
    }
    const answer = {
      submissionId: recorded.submissionId,
      sha256: digests.sha256,
      duplicate: recorded.duplicate,
      replayed: recorded.replayed,
    };
    // A replay recorded nothing: no bytes ingested, no job (the first request's is queued or in the outbox).
    if (recorded.replayed) return answer;
    this.metrics.bytesIngested.inc({ kind: metadata.kind }, digests.size);
    await this.enqueue(recorded, digests.sha256);
    return answer;
  }

  private async record(
    file: ReceivedFile,
    key: string,
    principal: Principal,
    idempotencyKey: string | undefined,
  ): Promise<RecordedSubmission> {
    const { digests, metadata } = file;
    const filename = sanitizeFilename(metadata.filename);
    return this.submissions.record({
      // The request's fingerprint is its metadata document: it names the bytes (sha256, size), which were
      // checked against it, and what the agent said of them. Compared only with the same key's first use.
      ...(idempotencyKey === undefined
        ? {}
        : {
            idempotency: {
              key: idempotencyKey,
              requestSha256: createHash('sha256').update(JSON.stringify(metadata)).digest('hex'),
            },
          }),
      digests,
      kind: metadata.kind,
      objectKey: key,
      // Scrubbed before anything is stored: user names, host names, e-mail addresses, SIDs.
      metadata: scrubbedContext(metadata),
      filename: filename === null ? null : scrubString(filename),
      submitter: submitterOf(principal),
      scanJob: (submissionId) => ({
        queue: QueueName.Scan,
        name: JobName.ScanSample,
        jobId: ingestScanJobId(digests.sha256, submissionId),
        payload: { sha256: digests.sha256, submissionId },
      }),
    });
  }

  /** Best effort: a tombstone for the object of a submission that was not recorded, drained soon. */
  private async forget(sha256: string, key: string): Promise<void> {
    try {
      await this.submissions.tombstoneUnrecorded(sha256, key);
      this.drainSoon();
    } catch (e) {
      this.logger.warn({ err: e, key }, 'an object without a sample row stays: no tombstone');
    }
  }

  /** Best effort: when Redis is down the scheduled consent sweep drains the tombstone later. */
  private drainSoon(): void {
    this.queue
      .add(
        { queue: QueueName.Maintenance, name: JobName.ConsentSweep, data: {} },
        `consent-sweep-refused-upload-${Date.now()}`,
        { removeOnComplete: true, removeOnFail: true },
      )
      .catch((e: unknown) => this.redisDown.warn(this.logger, e, 'tombstone drain not queued'));
  }

  /** Best effort: when Redis is down the outbox row stays and the scanner's re-drive job enqueues it later. */
  private async enqueue(recorded: RecordedSubmission, sha256: string): Promise<void> {
    if (recorded.outboxId === null || recorded.job === null) return;
    try {
      const { item } = ingestScanJob(sha256, recorded.submissionId);
      await this.queue.add(item, recorded.job.jobId);
    } catch (e) {
      this.redisDown.warn(this.logger, e, `scan job of ${sha256} left in the outbox for re-drive`);
      return;
    }
    await this.queued.submit({ submissionId: recorded.submissionId, outboxId: recorded.outboxId });
  }

  async find(id: string, principal: Principal): Promise<SubmissionView> {
    // Like the sample routes: a submission of a sample past retention is not served before the sweep.
    const record = /^[0-9a-f-]{36}$/i.test(id)
      ? await this.submissions.findById(
          id,
          principal.role === 'agent' ? { submitter: principal.pseudonym } : undefined,
          retentionCutoff(this.config),
        )
      : null;
    if (record === null) throw new SpecimenError('NOT_FOUND', 'no such submission');
    return {
      id: record.id,
      sha256: record.sha256,
      kind: record.kind,
      status: record.status,
      verdict: record.verdict,
      receivedAt: record.receivedAt.toISOString(),
      filename: record.filename,
    };
  }
}
