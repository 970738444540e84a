/** Queue names. Payloads carry ids only, never bytes or secrets. */
export enum QueueName {
  Scan = 'scan',
  Retrohunt = 'retrohunt',
  Maintenance = 'maintenance',
  /** Sightings of hash-first lookups, written behind the answer (its own queue: purges never wait on it). */
  Sightings = 'sightings',
}

export enum JobName {
  ScanSample = 'scan-sample',
  OutboxRedrive = 'outbox-redrive',
  ConsentPurge = 'consent-purge',
  ConsentSweep = 'consent-sweep',
  RetentionSweep = 'retention-sweep',
  StatsRollup = 'stats-rollup',
  RetrohuntRulesSweep = 'retrohunt-rules-sweep',
  LookupSightings = 'lookup-sightings',
  RetrohuntBatch = 'retrohunt-batch',
  RetroscanBatch = 'retroscan-batch',
  RetroscanCheck = 'retroscan-check',
}

export interface ScanSampleJob {
  sha256: string;
  /** The submission that caused this scan, if any (a rescan has none). */
  submissionId?: string;
  /**
   * The scan must use the active ruleset and rule states as PostgreSQL held them at this instant (ISO 8601,
   * its clock) or later: a scanner that has not read them since reads them first. Set by retro-scans, which
   * follow an activation or a rule-state change that a scanner may not have heard of (its pub/sub message
   * lost) and would otherwise scan with what it had for up to RULES_POLL_MS.
   */
  rulesAsOf?: string;
}

export interface OutboxRedriveJob {
  /** Only rows older than this many milliseconds are re-driven, so fresh ones are left to the producer. */
  olderThanMs: number;
}

/** Removes what one agent contributed alone up to its consent withdrawal. */
export interface ConsentPurgeJob {
  /** The agent's keyed pseudonym (agents.pseudonym): job data and outbox rows never carry its id. */
  agent: string;
}

/** Finds agents whose consent is withdrawn and whose data is still stored, and queues their purge. */
export type ConsentSweepJob = Record<string, never>;

/** Destroys raw data of samples not sighted within the retention period. */
export interface RetentionSweepJob {
  /** Token of the admin who asked for it; absent for the scheduled sweep. */
  requestedBy?: string;
  /** That token's name, for the audit record (`?actor=` finds records by name or id). */
  requestedByName?: string;
}

/** Writes the daily statistics roll-ups from raw rows. */
export type StatsRollupJob = Record<string, never>;

/** Removes retrohunts' compiled rules left in object storage by retrohunts that are over or never were. */
export type RetrohuntRulesSweepJob = Record<string, never>;

/**
 * The sightings of one hash-first lookup, written by the scanner after the API answered: every known
 * sample of the batch gets its `last_seen`/`sightings` bump and a `lookup` submission row.
 */
export interface LookupSightingsJob {
  /** The agent's keyed pseudonym (`submissions.submitter`): never its id. */
  submitter: string;
  country: string | null;
  productVersion: string | null;
  /** When the lookup read the samples (ISO 8601, the database's clock): last_seen and received_at. */
  seenAt: string;
  /** The known samples the lookup answered (lower-case sha256). */
  sha256s: string[];
}

/** One batch of a retrohunt: the samples after `after` (sha256 order), then the next batch is queued. */
export interface RetrohuntBatchJob {
  retrohuntId: string;
  /** The last sha256 of the previous batch; absent for the first. */
  after?: string;
}

/** One batch of a retro-scan after an activation: queues low-priority scan jobs for the next samples. */
export interface RetroscanBatchJob {
  /** The ruleset whose activation asked for the retro-scan (part of the scan job ids). */
  rulesetId: string;
  /** Only samples first seen up to this instant (ISO 8601): newer ones were scanned by their ingest. */
  until: string;
  after?: string;
  /**
   * Only samples whose latest scan matched this rule (a rule-state change with `rescan`, which can move
   * only their verdicts); every sample when absent.
   */
  rule?: string;
  /** PostgreSQL's clock when the first batch ran, after the change committed: its scans' `rulesAsOf`. */
  rulesAsOf?: string;
}

/**
 * One step of a retro-scan's check phase, after its last batch: looks at the next covered samples (the
 * batches' filters) for ones without a scan under the ruleset started at `rulesAsOf` or later, and queues
 * again, under their first ids, the scan jobs of those Redis no longer holds. One job per retro-scan
 * (retroscanCheckJobId), put back delayed between steps and between passes; the retro-scan's row keeps
 * where the check stands (`cursor`: every covered sample up to it has its scan), so a lost one starts again
 * from there.
 */
export interface RetroscanCheckJob {
  rulesetId: string;
  until: string;
  rule?: string;
  /** The retro-scan's rules instant (its first batch's): a scan started before it does not count. */
  rulesAsOf: string;
  /**
   * Where this pass looks next, past the row's cursor once the pass found a sample still unscanned (those
   * further on whose jobs Redis lost are queued again in the same pass); absent: at the row's cursor.
   */
  after?: string;
  /** Scan jobs this pass queued again so far (for the one log line at its end). */
  requeued?: number;
}

/** Name and payload together, so a handler can never receive the wrong payload. */
export type JobItem =
  | { queue: QueueName.Scan; name: JobName.ScanSample; data: ScanSampleJob }
  | { queue: QueueName.Maintenance; name: JobName.OutboxRedrive; data: OutboxRedriveJob }
  | { queue: QueueName.Maintenance; name: JobName.ConsentPurge; data: ConsentPurgeJob }
  | { queue: QueueName.Maintenance; name: JobName.ConsentSweep; data: ConsentSweepJob }
  | { queue: QueueName.Maintenance; name: JobName.RetentionSweep; data: RetentionSweepJob }
  | { queue: QueueName.Maintenance; name: JobName.StatsRollup; data: StatsRollupJob }
  | { queue: QueueName.Maintenance; name: JobName.RetrohuntRulesSweep; data: RetrohuntRulesSweepJob }
  | { queue: QueueName.Sightings; name: JobName.LookupSightings; data: LookupSightingsJob }
  | { queue: QueueName.Retrohunt; name: JobName.RetrohuntBatch; data: RetrohuntBatchJob }
  | { queue: QueueName.Retrohunt; name: JobName.RetroscanBatch; data: RetroscanBatchJob }
  | { queue: QueueName.Retrohunt; name: JobName.RetroscanCheck; data: RetroscanCheckJob };
