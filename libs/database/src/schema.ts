import {
  sql,
  bigint,
  bigserial,
  boolean,
  char,
  date,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from './drizzle.js';
import type { AnalysisResult } from '#contracts';

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/** Who may call the API: people's tokens and agents' keys, stored as sha256 of the secret only. */
export const apiTokens = pgTable(
  'api_tokens',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    name: text('name').notNull(),
    role: text('role', { enum: ['agent', 'analyst', 'admin'] }).notNull(),
    tokenHash: char('token_hash', { length: 64 }).notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
    createdBy: uuid('created_by'),
    revokedAt: ts('revoked_at'),
    /** Set for an enrolled agent's API key (see {@link agents}); null for people's tokens. */
    agentId: uuid('agent_id').references(() => agents.id, { onDelete: 'cascade' }),
  },
  (t) => [
    uniqueIndex('api_tokens_token_hash_key').on(t.tokenHash),
    index('api_tokens_agent_idx').on(t.agentId),
  ],
);

/** One row per distinct content (sha256), whatever the number of submissions. */
export const samples = pgTable(
  'samples',
  {
    // This hash, sha1, md5, the sample_sha256 columns that reference it and the token hashes are
    // COLLATE "C" (migration 0018; drizzle's column builders cannot say so): compared byte by byte.
    sha256: char('sha256', { length: 64 }).primaryKey(),
    sha1: char('sha1', { length: 40 }).notNull(),
    md5: char('md5', { length: 32 }).notNull(),
    size: bigint('size', { mode: 'number' }).notNull(),
    kind: text('kind', { enum: ['file', 'file-fragment', 'memory-region', 'boot-record'] }).notNull(),
    objectKey: text('object_key').notNull(),
    firstSeen: ts('first_seen').notNull().defaultNow(),
    /**
     * The latest sighting, to within a minute: a sighting moves it only once it is a minute or more behind
     * (lastSeenAt in submissions.repository.ts), so most sightings update the row heap-only.
     */
    lastSeen: ts('last_seen').notNull().defaultNow(),
    sightings: integer('sightings').notNull().default(1),
    scanStatus: text('scan_status', { enum: ['pending', 'scanned', 'failed', 'timeout'] })
      .notNull()
      .default('pending'),
    verdict: text('verdict', { enum: ['clean', 'suspicious', 'malicious'] }),
    latestScanId: uuid('latest_scan_id'),
    // --- analyzers (issue 4) ---
    /** The analyzers' broad file type (`pe`, `elf`, …) from the latest scan; null before the first. */
    fileType: text('file_type'),
    // --- analyst search (issue 5): copies kept by triggers (migration 0010) so filters need no join ---
    /** Rule names that matched in the latest scan (`latest_scan_id`'s matches, noisy ones included). */
    matchRules: text('match_rules')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    /** Tags of those rules. */
    matchTags: text('match_tags')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    /** Countries of its sightings (`submissions.country`, what a join through submissions would find). */
    countries: text('countries')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
  },
  (t) => [
    index('samples_sha1_idx').on(t.sha1),
    index('samples_md5_idx').on(t.md5),
    // --- Analyst search (issue 5). Keyset pagination orders by (sort column, sha256): one index per sort
    // answers a page by an index range scan; verdict and kind, the commonest filters, get their own prefix.
    index('samples_first_seen_key_idx').on(t.firstSeen, t.sha256),
    index('samples_last_seen_key_idx').on(t.lastSeen, t.sha256),
    index('samples_size_key_idx').on(t.size, t.sha256),
    index('samples_verdict_first_seen_idx').on(t.verdict, t.firstSeen, t.sha256),
    index('samples_kind_first_seen_idx').on(t.kind, t.firstSeen, t.sha256),
    // The unscanned samples, for the re-drive's look for scan jobs Redis lost (migration 0025).
    index('samples_pending_idx')
      .on(t.firstSeen)
      .where(sql`${t.scanStatus} = 'pending'`),
    // Rule, tag and country filters: a join per candidate row (matches of the latest scan, or sightings)
    // took up to a second over 1,000,000 samples for a middling rule or a rare country;
    // arrays on the row with GIN indexes answer either by walking the sort index or by a bitmap.
    index('samples_match_rules_idx').using('gin', t.matchRules),
    index('samples_match_tags_idx').using('gin', t.matchTags),
    index('samples_countries_idx').using('gin', t.countries),
    // --- end analyst search
  ],
);

/** A sighting: one agent sent one sample once, with what it knew about it. */
export const submissions = pgTable(
  'submissions',
  {
    id: uuid('id')
      .primaryKey()
      .default(sql`uuid_v7()`),
    sampleSha256: char('sample_sha256', { length: 64 })
      .notNull()
      .references(() => samples.sha256, { onDelete: 'cascade' }),
    kind: text('kind', { enum: ['file', 'file-fragment', 'memory-region', 'boot-record'] }).notNull(),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull(),
    filename: text('filename'),
    /**
     * Who sent it, as the keyed pseudonym of the agent (or of a person's token): see `pseudonym()` in
     * libs/config. Agent identity appears outside the agents table only in this form.
     */
    submitter: text('submitter'),
    /** The agent's country and product ("name version") when it sent this, for sightings and roll-ups. */
    country: char('country', { length: 2 }),
    productVersion: text('product_version'),
    /**
     * Legacy: the submitting token's id, written before migration 0009. Start-up converts every such row
     * to `submitter` and empties this column (libs/database/src/pseudonyms.ts); nothing writes it now.
     */
    submittedBy: uuid('submitted_by').references(() => apiTokens.id, { onDelete: 'set null' }),
    status: text('status', { enum: ['received', 'queued'] })
      .notNull()
      .default('received'),
    /** `upload`: the bytes came with it; `lookup`: a hash-first lookup of a known sample (no bytes). */
    source: text('source', { enum: ['upload', 'lookup'] })
      .notNull()
      .default('upload'),
    receivedAt: ts('received_at').notNull().defaultNow(),
  },
  (t) => [
    index('submissions_sample_idx').on(t.sampleSha256, t.receivedAt),
    index('submissions_submitter_idx').on(t.submitter, t.receivedAt),
    // Start-up looks for rows still to convert to pseudonyms (libs/database/src/pseudonyms.ts) through
    // these partial indexes, empty once converted, instead of reading the whole table at every start.
    index('submissions_legacy_submitted_by_idx')
      .on(t.id)
      .where(sql`${t.submittedBy} is not null`),
    // --- data stewardship (issue 7): the daily statistics roll-up reads one day of submissions at a time.
    index('submissions_received_idx').on(t.receivedAt),
  ],
);

/** Versions of YARA rule sources; at most one is active. */
export const rulesets = pgTable(
  'rulesets',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    name: text('name').notNull(),
    version: integer('version').notNull(),
    source: text('source').notNull(),
    sourceSha256: char('source_sha256', { length: 64 }).notNull(),
    status: text('status', { enum: ['staging', 'active', 'disabled'] })
      .notNull()
      .default('staging'),
    ruleCount: integer('rule_count').notNull().default(0),
    createdAt: ts('created_at').notNull().defaultNow(),
    createdBy: uuid('created_by'),
    activatedAt: ts('activated_at'),
    // --- rule lifecycle (issue 4) ---
    /** The token that made this version active (last time). */
    activatedBy: uuid('activated_by'),
    /** Compiler errors and warnings of the version, as returned when it was created. */
    diagnostics: jsonb('diagnostics').$type<StoredDiagnostic[]>().notNull().default([]),
    /** Rules left out because they (or a rule they use) do not compile. */
    quarantined: text('quarantined').array().notNull().default([]),
    // --- end rule lifecycle ---
  },
  (t) => [
    uniqueIndex('rulesets_name_version_key').on(t.name, t.version),
    uniqueIndex('rulesets_one_active_key')
      .on(t.status)
      .where(sql`${t.status} = 'active'`),
  ],
);

// --- rule lifecycle (issue 4) ---

/** A compiler diagnostic as stored with a ruleset version. */
export interface StoredDiagnostic {
  severity: 'error' | 'warning';
  rule: string | null;
  line: number;
  /** libyara gives no column; null when it cannot be told from the message. */
  column: number | null;
  message: string;
}

/**
 * Analyst decisions about single rules of a ruleset version. A rule without a row is `enabled`;
 * `disabled` rules never count, `noisy` ones are recorded but do not raise the verdict.
 */
export const rulesetRules = pgTable(
  'ruleset_rules',
  {
    rulesetId: uuid('ruleset_id')
      .notNull()
      .references(() => rulesets.id, { onDelete: 'cascade' }),
    rule: text('rule').notNull(),
    state: text('state', { enum: ['enabled', 'disabled', 'noisy'] }).notNull(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
    updatedBy: uuid('updated_by'),
  },
  (t) => [uniqueIndex('ruleset_rules_ruleset_rule_key').on(t.rulesetId, t.rule)],
);

// --- end rule lifecycle ---

/** One YARA run over one sample with one ruleset version. */
export const scans = pgTable(
  'scans',
  {
    id: uuid('id')
      .primaryKey()
      .default(sql`uuid_v7()`),
    sampleSha256: char('sample_sha256', { length: 64 })
      .notNull()
      .references(() => samples.sha256, { onDelete: 'cascade' }),
    rulesetId: uuid('ruleset_id')
      .notNull()
      .references(() => rulesets.id),
    status: text('status', { enum: ['scanned', 'timeout', 'failed'] }).notNull(),
    verdict: text('verdict', { enum: ['clean', 'suspicious', 'malicious'] }),
    error: text('error'),
    durationMs: integer('duration_ms').notNull(),
    // --- analyzers (issue 4) ---
    /** What the analyzers found (file type, PE/ELF summary, boot record, memory region); null on failure. */
    analysis: jsonb('analysis').$type<AnalysisResult>(),
    startedAt: ts('started_at').notNull(),
    finishedAt: ts('finished_at').notNull().defaultNow(),
  },
  (t) => [index('scans_sample_idx').on(t.sampleSha256, t.finishedAt)],
);

export interface StoredStringMatch {
  identifier: string;
  offset: number;
  length: number;
}

export const matches = pgTable(
  'matches',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    scanId: uuid('scan_id')
      .notNull()
      .references(() => scans.id, { onDelete: 'cascade' }),
    rule: text('rule').notNull(),
    namespace: text('namespace').notNull(),
    tags: text('tags').array().notNull(),
    meta: jsonb('meta').$type<Record<string, string | number | boolean>>().notNull(),
    strings: jsonb('strings').$type<StoredStringMatch[]>().notNull(),
    /** The rule was marked noisy when it matched: recorded, but not counted in the verdict (issue 4). */
    noisy: boolean('noisy').notNull().default(false),
  },
  (t) => [
    index('matches_scan_idx').on(t.scanId),
    // Rule and tag search reads samples.match_rules / match_tags (issue 5), not these rows.
  ],
);

/**
 * Jobs committed with the data that caused them. A row is deleted once the job is in Redis; rows left
 * behind (Redis was down) are re-driven by a maintenance job, so nothing accepted is lost.
 */
export const outbox = pgTable(
  'outbox',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    queue: text('queue').notNull(),
    name: text('name').notNull(),
    jobId: text('job_id').notNull(),
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
  },
  (t) => [index('outbox_created_idx').on(t.createdAt)],
);

/**
 * Append-only record of what people and agents did: downloads, rule changes, activations, token and
 * agent changes, consent changes, purges. A trigger (migration 0001) refuses UPDATE and DELETE.
 */
export const auditLog = pgTable(
  'audit_log',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    at: ts('at').notNull().defaultNow(),
    /** The token (person or agent key) that acted; null for the system itself (scheduled jobs). */
    actorId: uuid('actor_id'),
    actorName: text('actor_name').notNull(),
    action: text('action').notNull(),
    targetType: text('target_type').notNull(),
    targetId: text('target_id'),
    details: jsonb('details').$type<Record<string, unknown>>().notNull().default({}),
  },
  (t) => [
    index('audit_log_at_idx').on(t.at),
    index('audit_log_actor_idx').on(t.actorId, t.at),
    index('audit_log_action_idx').on(t.action, t.at),
  ],
);

// ---- Agents: enrollment and consent (issue 3) ----

/** Admin-issued secrets an agent trades for its own API key; stored as sha256 of the secret only. */
export const enrollmentTokens = pgTable('enrollment_tokens', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name'),
  tokenHash: char('token_hash', { length: 64 }).notNull().unique('enrollment_tokens_token_hash_key'),
  expiresAt: ts('expires_at').notNull(),
  maxUses: integer('max_uses').notNull(),
  uses: integer('uses').notNull().default(0),
  createdAt: ts('created_at').notNull().defaultNow(),
  createdBy: uuid('created_by'),
  revokedAt: ts('revoked_at'),
});

/**
 * One enrolled installation. Deliberately minimal (DESIGN.md's privacy promises): product, OS and an
 * optional country; never a host name, user name or IP address.
 */
export const agents = pgTable(
  'agents',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /**
     * The agent's keyed pseudonym (HMAC of its id under PSEUDONYM_KEY), the only form in which it is
     * named elsewhere (submissions, audit log). Set at enrolment; rows from before migration 0009 get it
     * at start-up.
     */
    pseudonym: text('pseudonym').unique('agents_pseudonym_key'),
    productName: text('product_name').notNull(),
    productVersion: text('product_version').notNull(),
    osFamily: text('os_family').notNull(),
    osVersion: text('os_version').notNull(),
    /** ISO 3166-1 alpha-2, upper case. */
    country: char('country', { length: 2 }),
    enrollmentTokenId: uuid('enrollment_token_id').references(() => enrollmentTokens.id, {
      onDelete: 'set null',
    }),
    enrolledAt: ts('enrolled_at').notNull().defaultNow(),
    revokedAt: ts('revoked_at'),
    participating: boolean('participating').notNull().default(false),
    consentStatementVersion: text('consent_statement_version'),
    consentChangedAt: ts('consent_changed_at'),
    /**
     * When the agent last withdrew its consent. The consent purge (Data stewardship issue) finds agents
     * by this column and removes what they alone contributed up to that time; re-consenting does not
     * clear it.
     */
    consentRevokedAt: ts('consent_revoked_at'),
  },
  (t) => [
    index('agents_consent_revoked_idx').on(t.consentRevokedAt),
    index('agents_revoked_idx')
      .on(t.revokedAt)
      .where(sql`${t.revokedAt} is not null`),
    index('agents_without_pseudonym_idx')
      .on(t.id)
      .where(sql`${t.pseudonym} is null`),
  ],
);

// ---- Data stewardship (issue 7) ----

/**
 * Daily statistics roll-ups, kept after the raw rows are destroyed. Only publishable cells are stored:
 * a cell (day, dimension, value) built from fewer than k distinct agents is folded into the day's
 * `(other)` cell of its dimension, and an `(other)` cell still under k is not stored at all. `agents`
 * is a count of distinct agents; agent ids are never stored here.
 */
export const statsDaily = pgTable(
  'stats_daily',
  {
    day: date('day', { mode: 'string' }).notNull(),
    /** `total`, `kind`, `verdict`, `country`, `productVersion` or `rule`. */
    dimension: text('dimension').notNull(),
    value: text('value').notNull(),
    submissions: integer('submissions').notNull(),
    agents: integer('agents').notNull(),
  },
  (t) => [primaryKey({ columns: [t.day, t.dimension, t.value], name: 'stats_daily_pkey' })],
);

/** Which days are rolled up; a `final` day is never recomputed (its raw rows may be gone). */
export const statsDays = pgTable('stats_days', {
  day: date('day', { mode: 'string' }).primaryKey(),
  rolledAt: ts('rolled_at').notNull().defaultNow(),
  final: boolean('final').notNull().default(false),
  /** The k the day's suppression was computed with. */
  k: integer('k').notNull(),
});

/**
 * Objects whose rows are gone, to delete from storage. Written in the transaction that deletes the rows,
 * so a crash between that commit and the object deletion leaves a row here for the next run.
 */
export const objectTombstones = pgTable('object_tombstones', {
  objectKey: text('object_key').primaryKey(),
  createdAt: ts('created_at').notNull().defaultNow(),
});

/**
 * What a consent purge or a retention sweep removed from a day whose roll-up is not final yet (today or
 * yesterday), so that the day's roll-ups still count it (the day is not frozen half-way): one row per
 * removed submission, with only what the roll-up groups by. `agent` is not the pseudonym but a hash of it
 * under a secret of the day derived from PSEUDONYM_KEY and never stored, so it counts distinct agents and
 * cannot be tied to one from the database alone; the rows are deleted once the day is final.
 */
export const statsRemoved = pgTable(
  'stats_removed',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    day: date('day', { mode: 'string' }).notNull(),
    kind: text('kind').notNull(),
    verdict: text('verdict').notNull(),
    country: text('country').notNull(),
    productVersion: text('product_version').notNull(),
    agent: text('agent').notNull(),
    /** The rules (not noisy) of the sample's latest scan when it was removed. */
    rules: text('rules').array().notNull(),
  },
  (t) => [index('stats_removed_day_idx').on(t.day)],
);

/**
 * The days with {@link statsRemoved} rows, deleted with them when the day is final. `salt` is null since
 * migration 0026 (the day's secret is derived from PSEUDONYM_KEY instead); a day salted before keeps its
 * random salt, which named its removed agents, until it is final.
 */
export const statsSalts = pgTable('stats_salts', {
  day: date('day', { mode: 'string' }).primaryKey(),
  salt: uuid('salt'),
});

// ---- end data stewardship ----

// ---- Retrohunt (issue 4) ----

/**
 * A run of ad-hoc YARA rules over every retained sample (first seen up to `created_at`), in batch jobs on
 * the retrohunt queue. Never changes a verdict: matches go to {@link retrohuntMatches} only.
 */
export const retrohunts = pgTable(
  'retrohunts',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    source: text('source').notNull(),
    sourceSha256: char('source_sha256', { length: 64 }).notNull(),
    ruleCount: integer('rule_count').notNull(),
    status: text('status', { enum: ['queued', 'running', 'done', 'cancelled', 'failed'] })
      .notNull()
      .default('queued'),
    /** Samples to scan, counted at creation. */
    total: integer('total').notNull(),
    scanned: integer('scanned').notNull().default(0),
    /** Of those, scans that ran out of SCAN_TIMEOUT_MS (no match known). */
    timedOut: integer('timed_out').notNull().default(0),
    bytes: bigint('bytes', { mode: 'number' }).notNull().default(0),
    matchCount: integer('match_count').notNull().default(0),
    /** The last sample (sha256 order) whose batch is recorded: where a new batch starts. */
    cursor: char('cursor', { length: 64 }),
    error: text('error'),
    createdAt: ts('created_at').notNull().defaultNow(),
    createdBy: uuid('created_by'),
    startedAt: ts('started_at'),
    finishedAt: ts('finished_at'),
    /**
     * When it was created, started or last recorded a batch: an unfinished retrohunt quiet for long whose
     * next batch job Redis no longer holds gets that job again (migration 0027).
     */
    progressedAt: ts('progressed_at').notNull().defaultNow(),
  },
  (t) => [
    index('retrohunts_created_idx').on(t.createdAt),
    // The unfinished ones, for the re-drive's look for batch jobs Redis lost (migration 0027).
    index('retrohunts_unfinished_idx')
      .on(t.progressedAt)
      .where(sql`${t.status} in ('queued', 'running')`),
  ],
);

/**
 * A retro-scan (an activation's rescan of the retained samples, or a rule-state change's rescan) as far as
 * its batches got: the batch jobs carry the rest, so a chain whose next job Redis lost can be put back from
 * here (migration 0027). One row per retro-scan, named as its jobs are (retroscanKey in libs/queue).
 */
export const retroscans = pgTable(
  'retroscans',
  {
    key: text('key').primaryKey(),
    rulesetId: uuid('ruleset_id')
      .notNull()
      .references(() => rulesets.id, { onDelete: 'cascade' }),
    until: ts('until').notNull(),
    /** Only the samples whose latest scan matched this rule; every sample when null. */
    rule: text('rule'),
    /** The first batch's database clock, which every batch passes on to its scans (RetroscanBatchJob). */
    rulesAsOf: ts('rules_as_of'),
    /**
     * Running: the last sample (sha256 order) whose scan a batch queued, where the next batch starts.
     * Checking and done: the check's frontier, every covered sample up to it having its scan.
     */
    cursor: text('cursor'),
    /**
     * `running` while batches queue the scans, `checking` once they all are until every covered sample has
     * its scan (lost ones queued again), then `done`; `superseded` once another version is active.
     */
    status: text('status', { enum: ['running', 'checking', 'done', 'superseded'] })
      .notNull()
      .default('running'),
    createdAt: ts('created_at').notNull().defaultNow(),
    /** When it was created, a batch last queued scans or a check step last ran. */
    progressedAt: ts('progressed_at').notNull().defaultNow(),
    finishedAt: ts('finished_at'),
  },
  (t) => [
    index('retroscans_running_idx')
      .on(t.progressedAt)
      .where(sql`${t.status} = 'running'`),
  ],
);

/** One rule matching one sample in a retrohunt. */
export const retrohuntMatches = pgTable(
  'retrohunt_matches',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    retrohuntId: uuid('retrohunt_id')
      .notNull()
      .references(() => retrohunts.id, { onDelete: 'cascade' }),
    sampleSha256: char('sample_sha256', { length: 64 })
      .notNull()
      .references(() => samples.sha256, { onDelete: 'cascade' }),
    rule: text('rule').notNull(),
    namespace: text('namespace').notNull(),
    tags: text('tags').array().notNull(),
    meta: jsonb('meta').$type<Record<string, string | number | boolean>>().notNull(),
    strings: jsonb('strings').$type<StoredStringMatch[]>().notNull(),
  },
  (t) => [
    // A batch replayed after a crash between its insert and the cursor update must not repeat matches.
    uniqueIndex('retrohunt_matches_hunt_sample_rule_key').on(
      t.retrohuntId,
      t.sampleSha256,
      t.namespace,
      t.rule,
    ),
    index('retrohunt_matches_hunt_id_idx').on(t.retrohuntId, t.id),
    index('retrohunt_matches_sample_idx').on(t.sampleSha256),
  ],
);

// ---- end retrohunt ----

// ---- Resumable uploads (issue 3, tus) ----

/** One received part of a resumable upload: an object under `uploads/<id>/`. */
export interface UploadPart {
  key: string;
  offset: number;
  size: number;
}

/**
 * A tus upload in progress. S3 has no append, so each PATCH stores one part object and appends it here
 * in the same conditional update that moves `offset`; a row whose `expires_at` has passed is swept with
 * its parts.
 */
export const uploads = pgTable(
  'uploads',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** The token (agent key or person's token) that created it; nobody else may see or extend it. */
    createdBy: uuid('created_by').notNull(),
    length: bigint('length', { mode: 'number' }).notNull(),
    offset: bigint('offset', { mode: 'number' }).notNull().default(0),
    parts: jsonb('parts').$type<UploadPart[]>().notNull().default([]),
    /** The validated submission metadata document. */
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull(),
    /** The raw `Upload-Metadata` header, echoed by HEAD as tus asks. */
    rawMetadata: text('raw_metadata').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
    expiresAt: ts('expires_at').notNull(),
    /** Set when a request claims the finish; with a null `submissionId` the finish is still running. */
    completedAt: ts('completed_at'),
    submissionId: uuid('submission_id'),
    /**
     * Whether the finished upload's bytes were a sample already stored (`Specimen-Duplicate`), so that a
     * retried last PATCH or a HEAD answers as the finish did; null before the finish (and for uploads
     * finished before migration 0016).
     */
    duplicate: boolean('duplicate'),
  },
  (t) => [
    index('uploads_expires_idx').on(t.expiresAt),
    // The retention sweep's delete of the finished uploads of the samples it destroys (migration 0022).
    index('uploads_submission_idx')
      .on(t.submissionId)
      .where(sql`${t.submissionId} is not null`),
  ],
);

// ---- end resumable uploads ----

// ---- Idempotency keys (issue 3, agent protocol) ----

/**
 * The `Idempotency-Key` of a multipart upload (or `tus:<upload id>` for a resumable upload's finish), with the
 * submission it produced, written in the same statement as that submission: a retry carrying the same key
 * gets that submission's answer instead of recording a second one. Keys are scoped by submitter (the agent's
 * pseudonym), forgotten by the retention sweep IDEMPOTENCY_KEY_HOURS after they were first used, and go with
 * their submission (cascade) when a consent purge or the retention sweep deletes it.
 */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    submitter: text('submitter').notNull(),
    key: text('key').notNull(),
    submissionId: uuid('submission_id')
      .notNull()
      .references(() => submissions.id, { onDelete: 'cascade' }),
    /** sha256 of the request's metadata document (which names the bytes by their sha256 and size). */
    requestSha256: char('request_sha256', { length: 64 }).notNull(),
    /** What the first answer said: whether the sample was already stored (200) or new (201). */
    duplicate: boolean('duplicate').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.submitter, t.key], name: 'idempotency_keys_pkey' }),
    // A submission's delete (cascade) finds its key by this index, not by reading the table.
    index('idempotency_keys_submission_idx').on(t.submissionId),
    // The retention sweep's expiry.
    index('idempotency_keys_created_idx').on(t.createdAt),
  ],
);

// ---- end idempotency keys ----
