import { and, eq, sql } from '../drizzle.js';
import type { Digests, SampleKind, ScanStatus, SubmissionStatus, Verdict } from '#contracts';
import type { Database } from '../database.js';
import { outbox, samples, submissions } from '../schema.js';
import type { OutboxJob } from './outbox.repository.js';

/** Who sent a submission, as stored: a pseudonym, never an agent or token id (see `pseudonym()`). */
export interface Submitter {
  pseudonym: string;
  country: string | null;
  productVersion: string | null;
}

export interface RecordSubmissionInput {
  digests: Digests;
  kind: SampleKind;
  objectKey: string;
  metadata: Record<string, unknown>;
  filename: string | null;
  submitter: Submitter;
  /** Job to commit with the rows when the sample is new; built from the new submission's id. */
  scanJob: (submissionId: string) => OutboxJob;
}

export interface RecordedSubmission {
  submissionId: string;
  duplicate: boolean;
  /** The outbox row to enqueue and then delete, when a scan is needed. */
  outboxId: number | null;
  job: OutboxJob | null;
}

export interface SubmissionRecord {
  id: string;
  sha256: string;
  kind: SampleKind;
  status: SubmissionStatus;
  verdict: Verdict | null;
  receivedAt: Date;
  filename: string | null;
  submitter: string | null;
}

/** A known sample seen by a hash-first lookup. */
export interface LookupSighting {
  sha256: string;
  objectKey: string;
  scanStatus: ScanStatus;
  verdict: Verdict | null;
}

export class SubmissionsRepository {
  constructor(private readonly database: Database) {}

  /**
   * One transaction: upsert the sample (a sighting bumps last_seen and the count), insert the submission,
   * and, for a new sample or one whose scan failed, the outbox row of its scan job.
   */
  async record(input: RecordSubmissionInput): Promise<RecordedSubmission> {
    return this.database.transaction(async (tx) => {
      const [sample] = await tx
        .insert(samples)
        .values({
          sha256: input.digests.sha256,
          sha1: input.digests.sha1,
          md5: input.digests.md5,
          size: input.digests.size,
          kind: input.kind,
          objectKey: input.objectKey,
        })
        .onConflictDoUpdate({
          target: samples.sha256,
          set: { lastSeen: sql`now()`, sightings: sql`${samples.sightings} + 1` },
        })
        // xmax = 0 only for a freshly inserted row: that is how an upsert tells insert from update.
        .returning({ inserted: sql<boolean>`(xmax = 0)`, scanStatus: samples.scanStatus });
      if (sample === undefined) throw new Error('upsert returned no row');
      const needsScan = sample.inserted || sample.scanStatus === 'failed';

      const [submission] = await tx
        .insert(submissions)
        .values({
          sampleSha256: input.digests.sha256,
          kind: input.kind,
          metadata: input.metadata,
          filename: input.filename,
          submitter: input.submitter.pseudonym,
          country: input.submitter.country,
          productVersion: input.submitter.productVersion,
          // A duplicate rides on the scan its sample already has (queued or done).
          status: needsScan ? 'received' : 'queued',
        })
        .returning({ id: submissions.id });
      if (submission === undefined) throw new Error('insert returned no row');

      if (!needsScan) {
        return { submissionId: submission.id, duplicate: true, outboxId: null, job: null };
      }
      const job = input.scanJob(submission.id);
      const [row] = await tx.insert(outbox).values(job).returning({ id: outbox.id });
      return { submissionId: submission.id, duplicate: !sample.inserted, outboxId: row?.id ?? null, job };
    });
  }

  /**
   * The scan job is in Redis: drop its outbox row and mark the submission queued, in one statement (one
   * commit instead of two; it halved this step's latency under 200 concurrent uploads).
   */
  async markQueued(id: string, outboxId: number): Promise<void> {
    await this.database.db.execute(
      sql`with done as (delete from ${outbox} where ${outbox.id} = ${outboxId})
          update ${submissions} set status = 'queued' where ${submissions.id} = ${id}`,
    );
  }

  /** The submission with a status derived from its sample's scan: received → queued → scanned | failed. */
  async findById(id: string, visibleTo?: { submitter: string }): Promise<SubmissionRecord | null> {
    const [row] = await this.database.db
      .select({
        id: submissions.id,
        sha256: submissions.sampleSha256,
        kind: submissions.kind,
        ownStatus: submissions.status,
        scanStatus: samples.scanStatus,
        verdict: samples.verdict,
        receivedAt: submissions.receivedAt,
        filename: submissions.filename,
        submitter: submissions.submitter,
      })
      .from(submissions)
      .innerJoin(samples, eq(samples.sha256, submissions.sampleSha256))
      .where(
        visibleTo === undefined
          ? eq(submissions.id, id)
          : and(eq(submissions.id, id), eq(submissions.submitter, visibleTo.submitter)),
      )
      .limit(1);
    if (row === undefined) return null;
    const { ownStatus, scanStatus, ...rest } = row;
    const status: SubmissionStatus =
      scanStatus === 'scanned' || scanStatus === 'timeout'
        ? 'scanned'
        : scanStatus === 'failed'
          ? 'failed'
          : ownStatus;
    return { ...rest, status, verdict: status === 'scanned' ? row.verdict : null };
  }

  /**
   * Hash-first lookups of a whole batch in one statement: every known sample among `sha256s` gets a
   * sighting (last_seen, count) and a submission row marked `lookup` (no bytes, so no metadata), and is
   * returned. Unknown hashes, and samples last sighted before `seenSince` (past retention), are simply
   * absent from the result.
   */
  async recordLookupSightings(
    sha256s: string[],
    submitter: Submitter,
    seenSince?: Date,
  ): Promise<LookupSighting[]> {
    if (sha256s.length === 0) return [];
    // One text parameter split server-side: drizzle would expand an array into one parameter per item.
    // The rows are locked in sha256 order before they are updated: an UPDATE locks them in whatever order
    // its scan meets them, which differs between statements that started before and after another one's
    // commit (new row versions move), so overlapping batches from several agents deadlocked.
    const result = await this.database.db.execute<{
      sha256: string;
      object_key: string;
      scan_status: ScanStatus;
      verdict: Verdict | null;
    }>(
      sql`with target as materialized (
            select sha256 from ${samples}
            where ${samples.sha256} = any(string_to_array(${sha256s.join(',')}, ',')::bpchar[])
              and ${samples.lastSeen} >= ${(seenSince ?? new Date(0)).toISOString()}::timestamptz
            order by sha256
            for update
          ), seen as (
            update ${samples} set last_seen = now(), sightings = ${samples.sightings} + 1
            from target where ${samples.sha256} = target.sha256
            returning ${samples.sha256}, ${samples.kind}, ${samples.objectKey}, ${samples.scanStatus},
                      ${samples.verdict}
          ), sighted as (
            insert into ${submissions}
              (sample_sha256, kind, metadata, submitter, country, product_version, status, source)
            select sha256, kind, '{}'::jsonb, ${submitter.pseudonym}, ${submitter.country},
                   ${submitter.productVersion}, 'queued', 'lookup' from seen
          )
          select sha256, object_key, scan_status, verdict from seen`,
    );
    return result.rows.map((r) => ({
      sha256: r.sha256,
      objectKey: r.object_key,
      scanStatus: r.scan_status,
      verdict: r.verdict,
    }));
  }
}
