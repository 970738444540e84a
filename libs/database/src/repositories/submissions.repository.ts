import type pg from 'pg';
import { uuidV7 } from '../uuid7.js';
import { and, eq, gte, sql } from '../drizzle.js';
import {
  type Digests,
  type SampleKind,
  type ScanStatus,
  SpecimenError,
  type SubmissionStatus,
  type Verdict,
} from '#contracts';
import type { Database } from '../database.js';
import { agents, samples, submissions } from '../schema.js';
import type { OutboxJob } from './outbox.repository.js';
import { OBJECT_KEY_LOCK } from './stewardship.repository.js';

const COMMA = 0x2c;
const DIGIT_0 = 0x30;
/** 1 at the byte of each lower-case hex digit. */
const LOWER_HEX = new Uint8Array(256);
for (const c of '0123456789abcdef') LOWER_HEX[c.charCodeAt(0)] = 1;

/**
 * The `candidates` that are 64 lower-case hex digits (`hashes`, the array itself when all are), and those as
 * one comma-separated text written into a buffer (`text`): pg sends a buffer as the parameter's bytes
 * (binary format, which for text is the text itself), where `join` would first build the same 65 KB for
 * 1,000 hashes as a string on the heap, per lookup. Each hash is checked in the buffer, byte by byte, once
 * written: a regular expression per hash (~0.7 µs each) was a tenth of the API's CPU in a lookup.
 */
function commaSeparatedHashes(candidates: string[]): { hashes: string[]; text: Buffer } {
  const out = Buffer.allocUnsafe(Math.max(0, candidates.length * 65 - 1));
  let kept: string[] | null = null;
  let n = 0;
  for (let i = 0; i < candidates.length; i++) {
    const hash = candidates[i] as string;
    const at = n * 65;
    // 64 characters in 64 bytes of UTF-8 are 64 ASCII characters: then each must be a lower-case hex digit.
    let ok = hash.length === 64 && out.write(hash, at, 64, 'utf8') === 64;
    for (let k = at; ok && k < at + 64; k++) ok = LOWER_HEX[out[k] as number] === 1;
    if (ok) {
      if (n > 0) out[at - 1] = COMMA;
      kept?.push(hash);
      n++;
    } else kept ??= candidates.slice(0, i);
  }
  return { hashes: kept ?? candidates, text: out.subarray(0, Math.max(0, n * 65 - 1)) };
}

/**
 * The lookup read ({@link SubmissionsRepository.findForLookup}), fixed text prepared once per connection.
 * One array parameter, joined as a relation: with 1,000 hashes, `sha256 = any($1)` was planned as a
 * sequential scan (its cost model prices 1,000 index probes above reading the table; 25 ms against 2.5 ms
 * on 100,000 rows), while the join probes the index once per hash. The clock comes as a row of its own (i
 * and hits null), so an empty answer still carries it. A hit whose scan failed comes as a row of its own,
 * with its object key; the others come as one row per (status, verdict), their positions joined in one
 * text: a handful of rows to parse, not one per hit.
 */
const FIND_FOR_LOOKUP = `with hit as (
    select h.i::int4 as i, s.object_key, s.scan_status, s.verdict
    from unnest(string_to_array($1::text, ',')::char(64)[]) with ordinality as h(sha256, i)
    join samples s on s.sha256 = h.sha256
    where s.last_seen >= $2::timestamptz
  )
  select null as i, null as hits, null as object_key, null as scan_status, null as verdict,
         to_char(statement_timestamp() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as seen_at
  union all
  select i, null, object_key, scan_status, verdict, null from hit where scan_status = 'failed'
  union all
  select null, string_agg(i::text, ','), null, scan_status, verdict, null
  from hit where scan_status <> 'failed' group by scan_status, verdict`;

/**
 * How a sighting at `instant` (SQL) moves its sample's `last_seen`: forward only, and only once the stored
 * value is a minute or more behind, so `last_seen` is the latest sighting to within a minute. `last_seen` is
 * indexed (search sorts and filters by it) and `sightings` is not: a sighting that leaves `last_seen` as it
 * is updates the row heap-only (no index entry, see migration 0015), which is what most sightings of a
 * sample seen often are. As relatime does for a file's access time.
 */
const lastSeenAt = (instant: string) =>
  `case when samples.last_seen <= (${instant}) - interval '1 minute' then (${instant}) else samples.last_seen end`;

/**
 * {@link SubmissionsRepository.record}'s statement; its parameters in the order of the values there. The
 * submitter's agent row (none for a person's token) is read `for share`, as the lookup sightings do: an
 * upload that passed the consent check before its agent withdrew, and reaches this statement after, is
 * refused here instead of being stored after the withdrawal, where the consent purge (which removes what
 * was received up to the withdrawal) would never find it. Its promoted object, when no sample row refers
 * to it, is left as a tombstone for the stewardship jobs to delete.
 */
const RECORD_SUBMISSION = `
  with agent as materialized (
    select participating from agents where pseudonym = $10::text for share
  ), refused as materialized (
    select 1 from agent where not participating
  ), prior as materialized (
    -- The submission this submitter's idempotency key already produced: its answer is replayed, and nothing
    -- is written (no sighting counted twice).
    select k.submission_id, k.request_sha256, k.duplicate, s.sample_sha256
    from idempotency_keys k join submissions s on s.id = k.submission_id
    where $17::text is not null and k.submitter = $10::text and k.key = $17::text
  ), key_lock as materialized (
    -- The object key's lock, held to the commit: a tombstone drain of the key (OBJECT_KEY_LOCK) waits.
    select pg_advisory_xact_lock(${OBJECT_KEY_LOCK}, hashtext($6::text))
  ), sample as (
    insert into samples (sha256, sha1, md5, size, kind, object_key)
    select $1::char(64), $2::char(40), $3::char(32), $4::bigint, $5::text, $6::text
    where not exists (select 1 from refused) and not exists (select 1 from prior)
      and exists (select 1 from key_lock)
    on conflict (sha256) do update set last_seen = ${lastSeenAt('now()')}, sightings = samples.sightings + 1
    -- xmax = 0 only for a freshly inserted row: that is how an upsert tells insert from update.
    returning (xmax = 0) as inserted, (xmax = 0 or scan_status = 'failed') as needs_scan
  ), submission as (
    insert into submissions
      (id, sample_sha256, kind, metadata, filename, submitter, country, product_version, status)
    select $7::uuid, $1, $5, $8::jsonb, $9::text, $10::text, $11::char(2), $12::text,
           -- A duplicate rides on the scan its sample already has (queued or done).
           case when sample.needs_scan then 'received' else 'queued' end
    from sample
    returning id
  ), job as (
    insert into outbox (queue, name, job_id, payload)
    select $13::text, $14::text, $15::text, $16::jsonb
    from sample, submission
    where sample.needs_scan
    returning id
  ), tombstone as (
    insert into object_tombstones (object_key)
    select $6 from refused where not exists (select 1 from samples where sha256 = $1)
    on conflict do nothing
  ), keyed as (
    -- No ON CONFLICT: a request with the same key that committed after this statement's snapshot (a
    -- concurrent retry) makes this insert fail, and the whole statement with it (sample, submission, job).
    insert into idempotency_keys (submitter, key, submission_id, request_sha256, duplicate)
    select $10::text, $17::text, submission.id, $18::char(64), not sample.inserted
    from sample, submission
    where $17::text is not null
  )
  select exists (select 1 from refused) as refused, sample.inserted, sample.needs_scan,
         (select job.id from job) as outbox_id,
         prior.submission_id as prior_id, prior.request_sha256 as prior_request,
         prior.duplicate as prior_duplicate, prior.sample_sha256 as prior_sha256
  from (values (1)) as one(n) left join (sample cross join submission) on true left join prior on true`;

/** A submitter's idempotency key and the first answer it got ({@link SubmissionsRepository.record}). */
const PRIOR_ANSWER = `
  select k.submission_id as prior_id, k.request_sha256 as prior_request, k.duplicate as prior_duplicate,
         s.sample_sha256 as prior_sha256
  from idempotency_keys k join submissions s on s.id = k.submission_id
  where k.submitter = $1::text and k.key = $2::text`;

/** The unique violation of {@link RECORD_SUBMISSION}'s key insert: another request used the key meanwhile. */
const KEY_TAKEN = 'idempotency_keys_pkey';

interface PriorAnswer {
  prior_id: string | null;
  prior_request: string | null;
  prior_duplicate: boolean | null;
  prior_sha256: string | null;
}

/** {@link SubmissionsRepository.markQueuedMany}'s statement: $1 the outbox ids, $2 the submission ids. */
const MARK_QUEUED = `
  with done as (delete from outbox where id = any($1::bigint[]))
  update submissions set status = 'queued' where id = any($2::uuid[])`;

/**
 * The first answer to an idempotency key, for a request that carries it again: the same submission when the
 * request asks the same (its metadata document, hence the same bytes by sha256 and size), else refused.
 */
function replay(prior: PriorAnswer, sha256: string, requestSha256: string): RecordedSubmission {
  if (prior.prior_id === null || prior.prior_duplicate === null) throw new Error('no prior answer to replay');
  if (prior.prior_request !== requestSha256) {
    throw new SpecimenError(
      'IDEMPOTENCY_KEY_REUSED',
      prior.prior_sha256 === sha256
        ? 'this Idempotency-Key was used for an upload of the same bytes with other metadata: use a new key'
        : 'this Idempotency-Key was used for an upload of other bytes: use a new key for each upload',
      { header: 'Idempotency-Key', field: prior.prior_sha256 === sha256 ? 'metadata' : 'sha256' },
    );
  }
  return {
    submissionId: prior.prior_id,
    duplicate: prior.prior_duplicate,
    outboxId: null,
    job: null,
    replayed: true,
  };
}

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
  /**
   * The request's idempotency key (scoped by `submitter.pseudonym`) and the sha256 of what it asked
   * (its metadata document): a key already used answers with the submission it produced.
   */
  idempotency?: { key: string; requestSha256: string };
}

export interface RecordedSubmission {
  submissionId: string;
  duplicate: boolean;
  /** The outbox row to enqueue and then delete, when a scan is needed. */
  outboxId: number | null;
  job: OutboxJob | null;
  /** The idempotency key was used before: this is the submission (and answer) it produced then. */
  replayed: boolean;
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
export interface LookupSample {
  sha256: string;
  /** The sample's object key, read only when its scan failed (null otherwise). */
  objectKey: string | null;
  scanStatus: ScanStatus;
  verdict: Verdict | null;
}

/** What a hash-first lookup read: the known samples, and the database's clock when it read them. */
export interface LookupRead {
  /** ISO 8601 in UTC with microseconds, as the database gave it. */
  seenAt: string;
  samples: LookupSample[];
}

/** The sightings of one lookup: the known samples it answered, by whom, and when. */
export interface SightingBatch {
  sha256s: readonly string[];
  submitter: Submitter;
  /** ISO 8601: the lookup's read ({@link LookupRead.seenAt}). */
  seenAt: string;
}

/** Where a page of {@link SubmissionsRepository.strandedScans} starts: after this sample. */
export interface StrandedCursor {
  /** The sample's first_seen as PostgreSQL writes it (microseconds kept). */
  firstSeen: string;
  sha256: string;
}

export class SubmissionsRepository {
  constructor(private readonly database: Database) {}

  /**
   * One transaction: upsert the sample (a sighting bumps last_seen and the count), insert the submission,
   * and, for a new sample or one whose scan failed, the outbox row of its scan job. Throws CONSENT_REQUIRED,
   * storing nothing, when the submitter is an agent that is not participating (any more).
   */
  async record(input: RecordSubmissionInput): Promise<RecordedSubmission> {
    // One statement (auto-committed) instead of BEGIN, three INSERTs and COMMIT: one round trip to the
    // database per upload instead of five, the same rows. The submission's id is made here so that the
    // scan job can name it; the outbox row is written only when the sample needs a scan. A named prepared
    // statement: PostgreSQL parses and plans it once per connection, not once per upload.
    const id = uuidV7();
    const job = input.scanJob(id);
    const { digests: d, submitter, idempotency } = input;
    let result: pg.QueryResult<
      {
        refused: boolean;
        inserted: boolean | null;
        needs_scan: boolean | null;
        outbox_id: string | null;
      } & PriorAnswer
    >;
    try {
      result = await this.database.rawQuery({
        name: 'submissions.record',
        text: RECORD_SUBMISSION,
        values: [
          d.sha256,
          d.sha1,
          d.md5,
          d.size,
          input.kind,
          input.objectKey,
          id,
          JSON.stringify(input.metadata),
          input.filename,
          submitter.pseudonym,
          submitter.country,
          submitter.productVersion,
          job.queue,
          job.name,
          job.jobId,
          JSON.stringify(job.payload),
          idempotency?.key ?? null,
          idempotency?.requestSha256 ?? null,
        ],
      });
    } catch (e) {
      // A concurrent request with the same key committed first (this statement waited for it): nothing of
      // this one was written; answer as that one did.
      if (idempotency !== undefined && (e as { constraint?: unknown }).constraint === KEY_TAKEN) {
        const [prior] = (
          await this.database.rawQuery<PriorAnswer>({
            name: 'submissions.priorAnswer',
            text: PRIOR_ANSWER,
            values: [submitter.pseudonym, idempotency.key],
          })
        ).rows;
        if (prior !== undefined) return replay(prior, d.sha256, idempotency.requestSha256);
      }
      throw e;
    }
    const row = result.rows[0];
    if (row?.refused === true) {
      throw new SpecimenError(
        'CONSENT_REQUIRED',
        'this agent withdrew its consent while the upload was under way',
      );
    }
    if (row !== undefined && idempotency !== undefined && row.prior_id !== null) {
      return replay(row, d.sha256, idempotency.requestSha256);
    }
    if (row === undefined || row.inserted === null) throw new Error('the upsert returned no row');
    if (!row.needs_scan)
      return { submissionId: id, duplicate: true, outboxId: null, job: null, replayed: false };
    if (row.outbox_id === null) throw new Error('the outbox insert returned no row');
    return {
      submissionId: id,
      duplicate: !row.inserted,
      outboxId: Number(row.outbox_id),
      job,
      replayed: false,
    };
  }

  /**
   * After {@link record} failed: a tombstone for the object promoted under `objectKey` unless a sample row
   * refers to it (a failure after the commit, another upload of the same bytes); the tombstone drain deletes
   * it under the key's lock, so an upload committing meanwhile keeps it.
   */
  async tombstoneUnrecorded(sha256: string, objectKey: string): Promise<void> {
    await this.database.rawQuery({
      text: `insert into object_tombstones (object_key)
             select $2 where not exists (select 1 from samples where sha256 = $1)
             on conflict do nothing`,
      values: [sha256, objectKey],
    });
  }

  /**
   * The scan job is in Redis: drop its outbox row and mark the submission queued, in one statement (one
   * commit instead of two; it halved this step's latency under 200 concurrent uploads).
   */
  async markQueued(id: string, outboxId: number): Promise<void> {
    await this.markQueuedMany([{ submissionId: id, outboxId }]);
  }

  /** {@link markQueued} for several submissions in one statement (one commit for all), prepared once. */
  async markQueuedMany(rows: ReadonlyArray<{ submissionId: string; outboxId: number }>): Promise<void> {
    if (rows.length === 0) return;
    await this.database.rawQuery({
      name: 'submissions.markQueuedMany',
      text: MARK_QUEUED,
      values: [rows.map((r) => r.outboxId), rows.map((r) => r.submissionId)],
    });
  }

  /**
   * The submission with a status derived from its sample's scan: received → queued → scanned | failed; with
   * `seenSince`, only when its sample was last sighted at or after it (not yet expired).
   */
  async findById(
    id: string,
    visibleTo?: { submitter: string },
    seenSince?: Date,
  ): Promise<SubmissionRecord | null> {
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
        and(
          eq(submissions.id, id),
          visibleTo === undefined ? undefined : eq(submissions.submitter, visibleTo.submitter),
          seenSince === undefined ? undefined : gte(samples.lastSeen, seenSince),
        ),
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
   * Hash-first lookups, the read: the known samples among `sha256s` (lower case, distinct) in one SELECT
   * that probes the primary key once per hash, and the database's clock at that
   * read, the instant their sightings are recorded at (see {@link recordSightings}). Unknown hashes, and
   * samples last sighted before `seenSince` (past retention, not yet swept), are simply absent; so is
   * anything that is not 64 lower-case hex digits, which no stored sample's sha256 is.
   */
  async findForLookup(sha256s: string[], seenSince?: Date): Promise<LookupRead> {
    // The hashes go as one comma-separated text (hex digits need no quoting), not a JS array that pg
    // quotes element by element; the answer names each hit by its position in that array instead of
    // repeating its sha256, and carries the object key only where the caller needs it (a failed scan):
    // with 1,000 hashes this is what the API allocates and parses per lookup, on a small young generation.
    const { hashes, text } = commaSeparatedHashes(sha256s);
    const result = await this.database.rawQuery<{
      i: number | null;
      hits: string | null;
      object_key: string | null;
      scan_status: ScanStatus;
      verdict: Verdict | null;
      seen_at: string | null;
    }>({
      name: 'submissions.findForLookup',
      text: FIND_FOR_LOOKUP,
      values: [text, (seenSince ?? new Date(0)).toISOString()],
    });
    let seenAt: string | null = null;
    const found: LookupSample[] = [];
    const hit = (i: number, objectKey: string | null, scanStatus: ScanStatus, verdict: Verdict | null) =>
      found.push({ sha256: hashes[i - 1] as string, objectKey, scanStatus, verdict });
    for (const r of result.rows) {
      if (r.i !== null) hit(r.i, r.object_key, r.scan_status, r.verdict);
      else if (r.hits !== null) {
        // Positions as digits between commas, read without a string per position.
        let i = 0;
        for (let k = 0; k <= r.hits.length; k++) {
          const c = k < r.hits.length ? r.hits.charCodeAt(k) : COMMA;
          if (c !== COMMA) i = i * 10 + (c - DIGIT_0);
          else {
            hit(i, null, r.scan_status, r.verdict);
            i = 0;
          }
        }
      } else seenAt = r.seen_at;
    }
    if (seenAt === null) throw new Error('lookup read returned no clock row');
    return { seenAt, samples: found };
  }

  /**
   * Samples never scanned (`scan_status` still `pending`) first seen before `olderThan`, oldest first (from
   * after `after`, a previous page's `next`), each with the upload that made it: the one its ingest scan
   * job is named after (ingestScanJobId). By the partial index of pending samples (migration 0025).
   * `next` is where the page after this one starts, null when this one ended the list.
   */
  async strandedScans(
    olderThan: Date,
    limit: number,
    after: StrandedCursor | null = null,
  ): Promise<{ samples: { sha256: string; submissionId: string }[]; next: StrandedCursor | null }> {
    const result = await this.database.db.execute<{
      sha256: string;
      first_seen: string;
      submission_id: string | null;
    }>(
      // first_seen as text: a JavaScript Date would cut its microseconds and the cursor would slip.
      sql`select s.sha256, s.first_seen::text as first_seen,
                 (select sub.id from ${submissions} sub
                  where sub.sample_sha256 = s.sha256 and sub.source <> 'lookup'
                  order by sub.received_at, sub.id limit 1) as submission_id
          from ${samples} s
          where s.scan_status = 'pending' and s.first_seen < ${olderThan.toISOString()}::timestamptz
            ${after === null ? sql`` : sql`and (s.first_seen, s.sha256) > (${after.firstSeen}::timestamptz, ${after.sha256})`}
          order by s.first_seen, s.sha256
          limit ${limit}`,
    );
    const last = result.rows.at(-1);
    return {
      samples: result.rows.flatMap((r) =>
        r.submission_id === null ? [] : [{ sha256: r.sha256, submissionId: r.submission_id }],
      ),
      next:
        result.rows.length === limit && last !== undefined
          ? { firstSeen: last.first_seen, sha256: last.sha256 }
          : null,
    };
  }

  /**
   * Hash-first lookups, the write, for any number of lookups at once in one statement: each sighting of a
   * sample still stored bumps its `sightings` and its `last_seen` (to the lookup's instant, never back, to
   * within a minute: see lastSeenAt), and adds a submission row marked `lookup` (no bytes, so no metadata)
   * received at that instant. A sighting whose agent has withdrawn its consent since (or is not
   * participating now) is dropped, so a sighting written after the consent purge cannot bring the agent's
   * data back; the agents' rows are read `for share`, so a withdrawal waits for this statement and its purge
   * sees what it wrote. Sample rows are locked in sha256 order before they are updated (an UPDATE locks them
   * in whatever order its scan meets them, and overlapping batches from several writers deadlocked).
   * Returns the submission rows written.
   */
  async recordSightings(lookups: readonly SightingBatch[]): Promise<number> {
    // One row of parameters per lookup, its hashes joined by commas into one text, split into rows by
    // the statement: five arrays of one element per sighting (16,000 for a full group) cost the scanner a
    // quoted element each to write and PostgreSQL one to parse, a timestamp among them, for values that are
    // the same for every hash of a lookup.
    const sent = lookups.filter((lookup) => lookup.sha256s.length > 0);
    if (sent.length === 0) return 0;
    const submitters = [...new Set(sent.map((lookup) => lookup.submitter.pseudonym))].sort();
    const result = await this.database.db.execute<{ written: string }>(
      sql`with sighting as (
            select h.sha256, l.submitter, l.country, l.product_version, l.seen_at
            from unnest(${sql.param(sent.map((lookup) => lookup.sha256s.join(',')))}::text[],
                        ${sql.param(sent.map((lookup) => lookup.submitter.pseudonym))}::text[],
                        ${sql.param(sent.map((lookup) => lookup.submitter.country))}::char(2)[],
                        ${sql.param(sent.map((lookup) => lookup.submitter.productVersion))}::text[],
                        ${sql.param(sent.map((lookup) => lookup.seenAt))}::timestamptz[])
              as l(hashes, submitter, country, product_version, seen_at)
            cross join lateral unnest(string_to_array(l.hashes, ',')::char(64)[]) as h(sha256)
          ), agent as materialized (
            select ${agents.pseudonym} as pseudonym, ${agents.participating} as participating,
                   ${agents.consentRevokedAt} as revoked_at
            from ${agents} where ${agents.pseudonym} = any(${sql.param(submitters)}::text[])
            order by ${agents.pseudonym}
            for share
          ), allowed as (
            select s.* from sighting s
            where not exists (select 1 from agent a
                              where a.pseudonym = s.submitter
                                and (not a.participating or a.revoked_at >= s.seen_at))
          ), target as materialized (
            select s.sha256 from (select distinct sha256 from allowed) as a
            join ${samples} s on s.sha256 = a.sha256
            order by s.sha256
            for update of s
          ), per_sample as (
            select sha256, count(*) as n, max(seen_at) as seen_at from allowed group by sha256
          ), seen as (
            update ${samples}
            set last_seen = ${sql.raw(lastSeenAt('p.seen_at'))}, sightings = ${samples.sightings} + p.n
            from target t join per_sample p on p.sha256 = t.sha256
            where ${samples.sha256} = t.sha256
            returning ${samples.sha256} as sha256, ${samples.kind} as kind
          ), sighted as (
            insert into ${submissions}
              (sample_sha256, kind, metadata, submitter, country, product_version, status, source, received_at)
            select a.sha256, seen.kind, '{}'::jsonb, a.submitter, a.country, a.product_version, 'queued',
                   'lookup', a.seen_at
            from allowed a join seen on seen.sha256 = a.sha256
            returning 1
          )
          select count(*) as written from sighted`,
    );
    return Number(result.rows[0]?.written ?? 0);
  }
}
