/** Queue names. Payloads carry ids only, never bytes or secrets. */
export enum QueueName {
  Scan = 'scan',
  Retrohunt = 'retrohunt',
  Maintenance = 'maintenance',
}

export enum JobName {
  ScanSample = 'scan-sample',
  OutboxRedrive = 'outbox-redrive',
  ConsentPurge = 'consent-purge',
  ConsentSweep = 'consent-sweep',
  RetentionSweep = 'retention-sweep',
  StatsRollup = 'stats-rollup',
}

export interface ScanSampleJob {
  sha256: string;
  /** The submission that caused this scan, if any (a rescan has none). */
  submissionId?: string;
}

export interface OutboxRedriveJob {
  /** Only rows older than this many milliseconds are re-driven, so fresh ones are left to the producer. */
  olderThanMs: number;
}

/** Removes what one agent contributed alone up to its consent withdrawal. */
export interface ConsentPurgeJob {
  agentId: string;
}

/** Finds agents whose consent is withdrawn and whose data is still stored, and queues their purge. */
export type ConsentSweepJob = Record<string, never>;

/** Destroys raw data of samples not sighted within the retention period. */
export interface RetentionSweepJob {
  /** Token of the admin who asked for it; absent for the scheduled sweep. */
  requestedBy?: string;
}

/** Writes the daily statistics roll-ups from raw rows. */
export type StatsRollupJob = Record<string, never>;

/** Name and payload together, so a handler can never receive the wrong payload. */
export type JobItem =
  | { queue: QueueName.Scan; name: JobName.ScanSample; data: ScanSampleJob }
  | { queue: QueueName.Maintenance; name: JobName.OutboxRedrive; data: OutboxRedriveJob }
  | { queue: QueueName.Maintenance; name: JobName.ConsentPurge; data: ConsentPurgeJob }
  | { queue: QueueName.Maintenance; name: JobName.ConsentSweep; data: ConsentSweepJob }
  | { queue: QueueName.Maintenance; name: JobName.RetentionSweep; data: RetentionSweepJob }
  | { queue: QueueName.Maintenance; name: JobName.StatsRollup; data: StatsRollupJob };
