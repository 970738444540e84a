/** Queue names. Payloads carry ids only, never bytes or secrets. */
export enum QueueName {
  Scan = 'scan',
  Retrohunt = 'retrohunt',
  Maintenance = 'maintenance',
}

export enum JobName {
  ScanSample = 'scan-sample',
  OutboxRedrive = 'outbox-redrive',
  RetrohuntBatch = 'retrohunt-batch',
  RetroscanBatch = 'retroscan-batch',
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
}

/** Name and payload together, so a handler can never receive the wrong payload. */
export type JobItem =
  | { queue: QueueName.Scan; name: JobName.ScanSample; data: ScanSampleJob }
  | { queue: QueueName.Maintenance; name: JobName.OutboxRedrive; data: OutboxRedriveJob }
  | { queue: QueueName.Retrohunt; name: JobName.RetrohuntBatch; data: RetrohuntBatchJob }
  | { queue: QueueName.Retrohunt; name: JobName.RetroscanBatch; data: RetroscanBatchJob };
